"""Decoding of ``WeightParams`` into numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def weight_array(params: Any, shape: tuple[int, ...] | None = None, what: str = "weights") -> np.ndarray:
    """Return the values of a ``WeightParams`` message as float32, optionally reshaped.

    Only unquantized storage (``floatValue`` or ``float16Value``) is decoded: quantized weights
    need the quantization table, and guessing it would make the reference untrustworthy.
    """
    if len(params.floatValue):
        arr = np.asarray(params.floatValue, dtype=np.float32)
    elif len(params.float16Value):
        # Core ML stores half floats little-endian regardless of host.
        arr = np.frombuffer(params.float16Value, dtype="<f2").astype(np.float32)
    elif len(params.rawValue) or params.HasField("quantization"):
        raise ValueError(f"{what}: quantized / raw weights are not supported by the reference executor")
    else:
        arr = np.zeros(0, dtype=np.float32)
    if shape is not None:
        expected = int(np.prod(shape)) if len(shape) else 1
        if arr.size != expected:
            raise ValueError(f"{what}: expected {expected} values for shape {tuple(shape)}, found {arr.size}")
        arr = arr.reshape(shape)
    return arr


def has_weights(params: Any) -> bool:
    return bool(len(params.floatValue) or len(params.float16Value) or len(params.rawValue))
