"""The Core AI backend (iOS 27 / macOS 27): ``.aimodel`` written with Apple's ``coreai-core``.

Nothing here imports ``coreai`` at module import time: the capability table (``capabilities``) and
the targets (``targets``) answer without the package, and only building (``program``) and running
(``run``) a model need it. ``require_coreai`` turns a missing package into one line.
"""

from __future__ import annotations

from bridgec.core.errors import UsageError

INSTALL_HINT = "pip install bridgec[coreai]"


def require_coreai() -> None:
    """Raise a one-line UsageError when ``coreai-core`` cannot be imported."""
    try:
        import coreai.authoring  # noqa: F401
    except ImportError as error:
        raise UsageError(
            f"--format coreai needs Apple's coreai-core package ({error}); install it with: {INSTALL_HINT}"
        ) from None
