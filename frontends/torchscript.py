"""TorchScript archives (``torch.jit.save``): loaded, run once, and exported to ONNX with kept ops.

The work is shared with the other PyTorch forms in ``frontends/pytorch.py`` (loading in
``pytorch_load``, exporting in ``pytorch_export``).
"""

from __future__ import annotations

from pathlib import Path

import onnx_graphsurgeon as gs

from bridgec.frontends import pytorch
from bridgec.frontends.pytorch_export import EXPORT_OPSET, output_names
from bridgec.frontends.pytorch_load import LoadOptions, forward_input_names


def input_names(module) -> list[str]:
    return forward_input_names(module)


def load(
    path: Path, given: dict[str | None, tuple[int, ...]] | None, options: LoadOptions | None = None
) -> gs.Graph:
    return pytorch.load(path, "torchscript", given, options)


__all__ = ["EXPORT_OPSET", "input_names", "load", "output_names"]
