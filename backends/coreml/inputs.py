"""The model inputs both Core ML formats accept: float32 tensors of a static, non-empty shape."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.errors import ConversionError


def static_inputs(graph: gs.Graph) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of each graph input; raises ConversionError naming the input and the fix."""
    found = []
    for tensor in graph.inputs:
        shape = tensor.shape
        if shape is not None and len(shape) == 0:
            raise ConversionError(
                f"input {tensor.name!r} is a scalar (rank 0); Core ML model inputs need a rank: feed it as "
                "a 1-element tensor"
            )
        if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ConversionError(
                f"input {tensor.name!r} has no static shape ({shape}); pass --input "
                f"{tensor.name}:1x3x224x224 with its real shape"
            )
        if tensor.dtype is not None and np.dtype(tensor.dtype) != np.float32:
            raise ConversionError(
                f"input {tensor.name!r} is {np.dtype(tensor.dtype)}; Core ML inputs here must be float32"
            )
        found.append((tensor.name, tuple(shape)))
    return found
