"""Logical layers (``logicalAnd/Or/Xor/Not``) and ``whereBroadcastable``.

Core ML blobs are float: a condition is true where it is non-zero, and results are 1.0 / 0.0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32


def _logical(op: Callable[..., np.ndarray], arity: int) -> LayerFn:
    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != arity:
            raise ValueError(f"needs exactly {arity} input(s), got {len(inputs)}")
        return [op(*(f32(x) != 0 for x in inputs)).astype(np.float32)]

    return run


def where_broadcastable(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """WhereBroadcastableLayerParams: inputs (condition, true values, false values), broadcast."""
    if len(inputs) != 3:
        raise ValueError(f"needs exactly 3 inputs (condition, a, b), got {len(inputs)}")
    cond, a, b = (f32(x) for x in inputs)
    return [f32(np.where(cond != 0, a, b))]


LAYERS: dict[str, LayerFn] = {
    "logicalAnd": _logical(np.logical_and, 2),
    "logicalOr": _logical(np.logical_or, 2),
    "logicalXor": _logical(np.logical_xor, 2),
    "logicalNot": _logical(np.logical_not, 1),
    "whereBroadcastable": where_broadcastable,
}
