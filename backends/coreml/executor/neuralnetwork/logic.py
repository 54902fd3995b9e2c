"""Logical layers (``logicalAnd/Or/Xor/Not``) and ``whereBroadcastable``, as NeuralNetwork.proto's
Logical*LayerParams and WhereBroadcastableLayerParams comments describe them.

Core ML blobs are float: "Input is considered False if equal to 0.0f otherwise True. Output is 1.0f
if the condition is true otherwise 0.0f" (every Logical*LayerParams).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32
from bridgec.core.words import plural


def _logical(op: Callable[..., np.ndarray], arity: int) -> LayerFn:
    """LogicalAnd/Or/Xor: "Must have 2 inputs", "Broadcasting is supported"; LogicalNot: "Must have 1
    input"."""

    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != arity:
            raise ValueError(f"needs exactly {plural(arity, 'input')}, got {len(inputs)}")
        return [op(*(f32(x) != 0 for x in inputs)).astype(np.float32)]

    return run


def where_broadcastable(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """WhereBroadcastableLayerParams: "similar in functionality to the numpy.where method with 3
    inputs"; "Inputs, in order, are the condition tensor, x and y"; "All the 3 inputs are first
    broadcasted to a common shape". The proto does not say when a float condition is "True": taken as
    the logical layers define it, non-zero."""
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
