"""Layers that repeat or rearrange data: ``tile``, ``broadcastTo*``, ``constantPad``,
``reorganizeData`` (space/depth)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32, fold_batch, unfold_batch
from bridgec.backends.coreml.executor.neuralnetwork.generate import _shape_from_blob


def tile(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """TileLayerParams: ``reps`` (or a second input, iOS14+, which wins) repeats each axis; "length
    of the reps parameter must be at least 1 and not greater than the rank of the input. If it is
    less than the input rank, it is made equal to the input rank by prepending 1's to it"."""
    x = f32(inputs[0])
    reps = _shape_from_blob(inputs[1]) if len(inputs) > 1 else tuple(int(r) for r in layer.tile.reps)
    if not 1 <= len(reps) <= x.ndim:
        raise ValueError(f"tile reps {list(reps)} must have 1 to {x.ndim} entries for shape {x.shape}")
    return [np.tile(x, (1,) * (x.ndim - len(reps)) + tuple(reps))]


def _broadcast(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    # numpy broadcasting in both directions: a target axis of 1 keeps the input's extent
    return np.ascontiguousarray(np.broadcast_to(x, np.broadcast_shapes(x.shape, shape)))


def broadcast_to_static(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """BroadcastToStaticLayerParams: "Output tensor is the broadcasted version of the input and has
    shape as specified in the parameter targetShape" -- exactly that shape, so a target axis of 1
    where the input is wider is an error here, not numpy's two-way broadcast."""
    x = f32(inputs[0])
    target = tuple(int(v) for v in layer.broadcastToStatic.targetShape)
    try:
        return [np.ascontiguousarray(np.broadcast_to(x, target))]
    except ValueError as exc:
        raise ValueError(f"broadcastToStatic: shape {x.shape} does not broadcast to {target}") from exc


def broadcast_to_dynamic(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [_broadcast(f32(inputs[0]), _shape_from_blob(inputs[1]))]


def broadcast_to_like(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [_broadcast(f32(inputs[0]), inputs[1].shape)]


def constant_pad(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ConstantPaddingLayerParams: "2*i-th and (2*i+1)-th values represent the amount of padding to
    be applied to the the i-th input dimension, before and after"; output_shape[i] = input_shape[i]
    + padAmounts[2*i] + padAmounts[2*i+1], filled with ``value``."""
    p = layer.constantPad
    x = f32(inputs[0])
    amounts = _shape_from_blob(inputs[1]) if len(inputs) > 1 else tuple(int(v) for v in p.padAmounts)
    if len(amounts) != 2 * x.ndim:
        raise ValueError(f"padAmounts {list(amounts)} must have 2 entries per axis of shape {x.shape}")
    width = [(amounts[2 * i], amounts[2 * i + 1]) for i in range(x.ndim)]
    if p.padToGivenOutputSizeMode:
        raise UnsupportedLayerError(layer.name, "constantPad", "padToGivenOutputSizeMode")
    return [np.pad(x, width, mode="constant", constant_values=np.float32(p.value))]


_SPACE_TO_DEPTH, _DEPTH_TO_SPACE, _PIXEL_SHUFFLE = range(3)


def reorganize_data(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ReorganizeDataLayerParams on the trailing [C, H, W] ("leading dimensions ... treated as
    batch"). From the proto's [C = 8, H = 1, W = 2] examples: DEPTH_TO_SPACE reads output channel c
    of block position (i, j) from input channel (i * b + j) * C_out + c; PIXEL_SHUFFLE (iOS14) from
    c * b * b + i * b + j; SPACE_TO_DEPTH "is the same as DEPTH_TO_SPACE, but with the input and
    output swapped"."""
    p = layer.reorganizeData
    b = int(p.blockSize)
    x, lead = fold_batch(f32(inputs[0]), 3, "reorganizeData")
    n, c, h, w = x.shape
    if b < 2:
        raise ValueError(f"blockSize must be >= 2, got {b}")
    if p.mode == _SPACE_TO_DEPTH:
        if h % b or w % b:
            raise ValueError(f"H, W = {h}, {w} are not multiples of blockSize {b}")
        y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
        return [unfold_batch(y.reshape(n, c * b * b, h // b, w // b), lead)]
    if c % (b * b):
        raise ValueError(f"C = {c} is not a multiple of blockSize^2 = {b * b}")
    if p.mode == _DEPTH_TO_SPACE:
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    elif p.mode == _PIXEL_SHUFFLE:
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        raise UnsupportedLayerError(layer.name, "reorganizeData", f"mode {p.mode}")
    return [unfold_batch(y.reshape(n, c // (b * b), h * b, w * b), lead)]


LAYERS: dict[str, LayerFn] = {
    "tile": tile,
    "broadcastToStatic": broadcast_to_static,
    "broadcastToDynamic": broadcast_to_dynamic,
    "broadcastToLike": broadcast_to_like,
    "constantPad": constant_pad,
    "reorganizeData": reorganize_data,
}
