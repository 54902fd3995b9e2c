"""bridgec: PyTorch -> ONNX IR -> passes -> Core ML, with custom layers and kernels for what is left.

Python use mirrors the architecture::

    from bridgec import frontends, passes, backends
    g = frontends.load("faceseg.pt", inputs={"x": (1, 3, 256, 256)})
    caps = backends.coreml.capabilities_for("iOS14")  # what the target runs: the passes ask it
    g = passes.Pipeline([passes.cleanup(), passes.LowerHardTanh(), passes.TagCustomLayers()]).run(g, target=caps)
    backends.coreml.emit(g, "faceseg.mlmodel")
"""

from __future__ import annotations

__version__ = "0.1.0"


def _early_signals() -> None:
    # the command's first code: from here on Ctrl-C and SIGTERM end it with one line, not a traceback
    from bridgec.core import interrupts

    if interrupts.is_the_command():
        interrupts.install_early()


_early_signals()

# what ``convert(path, inputs={"ids": TensorSpec((1, 16), "int64")})`` takes (numpy only: no torch)
from bridgec.core.tensor_spec import TensorSpec  # noqa: E402 - after the signals, the command's first code

__all__ = ["TensorSpec", "__version__"]
