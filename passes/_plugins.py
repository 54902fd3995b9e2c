"""User passes: from installed packages (entry point group ``bridgec.passes``) or a file (``--load-passes``).

Loading a module is enough: its ``@register`` decorators add the passes, and a pass whose class
declares ``extends = ("lower", "lower-custom")`` joins those ``-O`` pipelines by its ``after``/
``before`` constraints.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from bridgec.errors import UsageError

GROUP = "bridgec.passes"
_loaded_entry_points = False


def load_entry_points() -> list[str]:
    """Import every ``bridgec.passes`` entry point once; returns their names."""
    global _loaded_entry_points
    names: list[str] = []
    if _loaded_entry_points:
        return names
    _loaded_entry_points = True
    for point in entry_points(group=GROUP):
        try:
            point.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not look like a bridgec bug
            raise UsageError(f"pass plugin {point.name!r} ({point.value}) failed to load: {exc}") from None
        names.append(point.name)
    return names


def load_file(path: str | Path) -> None:
    """Import a Python file that registers passes (``--load-passes``)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--load-passes {path}: no such file")
    name = f"bridgec_user_passes_{path.stem}_{abs(hash(path.resolve())) % 10**8}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001
        del sys.modules[name]
        raise UsageError(f"--load-passes {path}: {type(exc).__name__}: {exc}") from None
