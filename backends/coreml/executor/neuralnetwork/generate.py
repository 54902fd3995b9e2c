"""Layers that make tensors from shapes and scalars: ``getShape``, ``fill*``, ``range*``, as
NeuralNetwork.proto's GetShape/FillLike/FillStatic/FillDynamic/RangeStatic/RangeDynamicLayerParams
comments describe them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32


def get_shape(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """GetShapeLayerParams: "Output: a vector of length R, where R is the rank of the input tensor"."""
    return [np.asarray(inputs[0].shape, dtype=np.float32).reshape(-1)]


def _shape_from_blob(blob: np.ndarray) -> tuple[int, ...]:
    values = np.asarray(blob, dtype=np.float64).reshape(-1)
    if np.any(values < 0) or np.any(values != np.round(values)):
        raise ValueError(f"a shape must hold non-negative integers, got {values.tolist()}")
    return tuple(int(v) for v in values)


def fill_like(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """FillLikeLayerParams: "Input is only used to determine the shape of the output"."""
    return [np.full(inputs[0].shape, np.float32(layer.fillLike.value), np.float32)]


def fill_static(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """FillStaticLayerParams: "A N-Dimensional tensor of shape "targetShape"" filled with ``value``."""
    shape = tuple(int(v) for v in layer.fillStatic.targetShape)
    return [np.full(shape, np.float32(layer.fillStatic.value), np.float32)]


def fill_dynamic(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """FillDynamicLayerParams: the input is "A rank 1 tensor specifying the shape of the output"."""
    return [np.full(_shape_from_blob(inputs[0]), np.float32(layer.fillDynamic.value), np.float32)]


def _arange(start: float, end: float, step: float) -> np.ndarray:
    """Range*LayerParams: "similar in functionality to the numpy.arange method". numpy.arange gives
    ceil((end - start) / step) values start + i * step, computed in double from the (float32)
    parameters; the proto says nothing about the precision Core ML counts in, so where the limit lands
    exactly on a step the length follows numpy's double arithmetic here."""
    if step == 0:
        raise ValueError("range step is 0")
    count = max(0, math.ceil((end - start) / step))
    # start + i * step (not a running sum) so the values do not drift with the length
    return f32(np.float32(start) + np.arange(count, dtype=np.float32) * np.float32(step))


def range_static(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.rangeStatic
    return [_arange(p.startValue, p.endValue, p.stepSizeValue)]


def range_dynamic(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """RangeDynamicLayerParams: "The first input represents the "endValue". The second input, if
    present, corresponds to "startValue" ... The third input, if present, corresponds to
    "stepSizeValue""; what is missing comes from the parameters."""
    if not 1 <= len(inputs) <= 3:
        raise ValueError(f"rangeDynamic takes 1 to 3 inputs, got {len(inputs)}")
    p = layer.rangeDynamic
    scalars = [float(np.asarray(x).reshape(-1)[0]) for x in inputs]
    end = scalars[0]
    start = scalars[1] if len(scalars) > 1 else p.startValue
    step = scalars[2] if len(scalars) > 2 else p.stepSizeValue
    return [_arange(start, end, step)]


LAYERS: dict[str, LayerFn] = {
    "getShape": get_shape,
    "fillLike": fill_like,
    "fillStatic": fill_static,
    "fillDynamic": fill_dynamic,
    "rangeStatic": range_static,
    "rangeDynamic": range_dynamic,
}
