"""bridgec: PyTorch -> ONNX IR -> passes -> Core ML or Core AI, with custom layers and kernels for what is left.

One call converts a model in memory, checks its numbers and keeps the result in memory until saved::

    import bridgec
    result = bridgec.convert(model, inputs={"x": (1, 3, 224, 224)})  # nn.Module, ONNX model or a file
    result.save("model.mlpackage")

The layers are importable on their own (``bridgec.frontends``, ``bridgec.passes``,
``bridgec.backends``, ``bridgec.driver``): the README's "From Python"."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"


def _early_signals() -> None:
    # the command's first code: from here on Ctrl-C and SIGTERM end it with one line, not a traceback
    from bridgec.core import interrupts

    if interrupts.is_the_command():
        interrupts.install_early()


_early_signals()

from bridgec.core.errors import BridgecError, ConversionError, UsageError  # noqa: E402 - after the signals
from bridgec.core.lazy import lazy_names  # noqa: E402

if TYPE_CHECKING:
    from bridgec.core.tensor_spec import TensorSpec
    from bridgec.driver.api import ConvertedModel, convert
    from bridgec.driver.check import CheckFailed

# reached on first use, so that ``import bridgec`` stays cheap: each module's imports are lazy
_LAZY = {
    "convert": "bridgec.driver.api",
    "ConvertedModel": "bridgec.driver.api",
    "CheckFailed": "bridgec.driver.check",
    # what ``convert(path, inputs={"ids": TensorSpec((1, 16), "int64")})`` takes: numpy, which
    # ``bridgec --help`` and ``bridgec targets`` do without
    "TensorSpec": "bridgec.core.tensor_spec",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "BridgecError",
    "CheckFailed",
    "ConversionError",
    "ConvertedModel",
    "TensorSpec",
    "UsageError",
    "__version__",
    "convert",
]
