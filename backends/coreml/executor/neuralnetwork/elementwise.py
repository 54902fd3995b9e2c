"""Elementwise binary layers: the numpy-broadcasting ``*Broadcastable`` family and the older
``add`` / ``multiply`` / ``max`` / ``min`` / ``average`` layers (which take 1..N inputs)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32

Binary = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _broadcastable(op: Binary) -> LayerFn:
    """The *BroadcastableLayerParams: "element-wise <op> operation with broadcast support", "2 inputs";
    PowBroadcastableLayerParams "raises each element in first tensor to the power of corresponding
    element in the second tensor. Supports conventional numpy-like broadcasting". Silent: every
    other broadcast rule (numpy's assumed, as the Pow text says), division by 0 and pow of a
    negative base to a fractional exponent (IEEE assumed: +-inf, NaN), NaN in max/min (assumed
    to propagate, numpy's maximum/minimum). All tensors are float32 in a NeuralNetwork."""

    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != 2:
            raise ValueError(f"needs exactly 2 inputs, got {len(inputs)}")
        return [f32(op(f32(inputs[0]), f32(inputs[1])))]

    return run


def _floor_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # FloorDivBroadcastableLayerParams: "element-wise floor division" — floor(a / b)
    return np.floor(a / b)


def _mod(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ModBroadcastableLayerParams: "element-wise modular operation with broadcast support",
    "Requires 2 inputs". Silent on signs, where C's remainder (the dividend's sign) and Python's
    (the divisor's) differ; Apple's own layer test feeds operands in [0, 1). So the reference
    computes the remainder of operands >= 0 only (the same in both conventions) and refuses a
    negative one rather than guess: a model that depends on the sign fails the numbers check."""
    if len(inputs) != 2:
        raise ValueError(f"needs exactly 2 inputs, got {len(inputs)}")
    a, b = f32(inputs[0]), f32(inputs[1])
    if np.any(a < 0) or np.any(b < 0):
        raise UnsupportedLayerError(
            layer.name, "modBroadcastable", "a negative operand: the proto leaves its sign open"
        )
    return [f32(np.mod(a, b))]


BROADCASTABLE: dict[str, LayerFn] = {
    "addBroadcastable": _broadcastable(np.add),
    "subtractBroadcastable": _broadcastable(np.subtract),
    "multiplyBroadcastable": _broadcastable(np.multiply),
    "divideBroadcastable": _broadcastable(np.divide),
    "maxBroadcastable": _broadcastable(np.maximum),
    "minBroadcastable": _broadcastable(np.minimum),
    "powBroadcastable": _broadcastable(np.power),
    "floorDivBroadcastable": _broadcastable(_floor_div),
    "modBroadcastable": _mod,
}


def _comparison(op: Binary, kind: str) -> LayerFn:
    """GreaterThan/GreaterEqual/LessThan/LessEqual/Equal/NotEqualLayerParams: "Either 1 or 2 inputs",
    "y = x1 > x2 or y = x1 > alpha, if only one input is provided", "Broadcasting is supported",
    "Output is 1.0f if the condition is true otherwise 0.0f"."""

    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        a = f32(inputs[0])
        b = f32(inputs[1]) if len(inputs) > 1 else np.float32(getattr(layer, kind).alpha)
        return [op(a, b).astype(np.float32)]

    return run


COMPARISONS: dict[str, LayerFn] = {
    "greaterThan": _comparison(np.greater, "greaterThan"),
    "greaterEqual": _comparison(np.greater_equal, "greaterEqual"),
    "lessThan": _comparison(np.less, "lessThan"),
    "lessEqual": _comparison(np.less_equal, "lessEqual"),
    "equal": _comparison(np.equal, "equal"),
    "notEqual": _comparison(np.not_equal, "notEqual"),
}


def _reduce_inputs(op: Binary, kind: str, scalar_op: Binary | None) -> LayerFn:
    """Old-style N-ary layers; with a single input, ``scalar_op(x, alpha)`` if the layer has one."""

    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        xs = [f32(x) for x in inputs]
        if len(xs) == 1:
            if scalar_op is None:
                return [xs[0].copy()]
            return [f32(scalar_op(xs[0], np.float32(getattr(layer, kind).alpha)))]
        return [f32(functools.reduce(op, xs))]

    return run


def _average(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    xs = [f32(x) for x in inputs]
    return [f32(functools.reduce(np.add, xs) / np.float32(len(xs)))]


OLD_STYLE: dict[str, LayerFn] = {
    "add": _reduce_inputs(np.add, "add", np.add),
    "multiply": _reduce_inputs(np.multiply, "multiply", np.multiply),
    "max": _reduce_inputs(np.maximum, "max", None),
    "min": _reduce_inputs(np.minimum, "min", None),
    "average": _average,
}
