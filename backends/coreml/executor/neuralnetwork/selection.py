"""Index-producing and scanning layers: ``argMax``, ``argMin``, ``topK``, ``cumSum``.

Indices are returned as float blobs (every Core ML NeuralNetwork blob is float); ties resolve
to the lowest index, as ONNX specifies for ArgMax/ArgMin/TopK.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32, norm_axis


def _arg(kind: str, fn: Any) -> LayerFn:
    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        p = getattr(layer, kind)
        x = f32(inputs[0])
        axis = norm_axis(int(p.axis), x.ndim)
        y = fn(x, axis=axis)
        if not p.removeDim:
            y = np.expand_dims(y, axis)
        y = np.asarray(y, dtype=np.float32)
        return [y.reshape(1) if y.ndim == 0 else y]

    return run


def top_k(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """TopKLayerParams: outputs (values, indices) along ``axis``; K from a second input if given."""
    p = layer.topK
    x = f32(inputs[0])
    axis = norm_axis(int(p.axis), x.ndim)
    k = int(np.asarray(inputs[1]).reshape(-1)[0]) if len(inputs) > 1 else int(p.K)
    if not 0 < k <= x.shape[axis]:
        raise ValueError(f"K={k} outside 1..{x.shape[axis]} for axis {axis} of shape {x.shape}")
    # a stable sort keeps equal values in index order: the lowest index wins a tie
    order = np.argsort(x if p.useBottomK else -x, axis=axis, kind="stable")
    indices = np.take(order, np.arange(k), axis=axis)
    return [np.take_along_axis(x, indices, axis=axis), indices.astype(np.float32)]


def cum_sum(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """CumSumLayerParams: running sum along ``axis``; ``excludeFinalSum`` shifts it by one place."""
    p = layer.cumSum
    x = f32(inputs[0])
    axis = norm_axis(int(p.axis), x.ndim)
    if p.reverse:
        x = np.flip(x, axis)
    y = np.cumsum(x, axis=axis, dtype=np.float32)
    if p.excludeFinalSum:
        y = y - x
    if p.reverse:
        y = np.flip(y, axis)
    return [np.ascontiguousarray(y)]


LAYERS: dict[str, LayerFn] = {
    "argMax": _arg("argMax", np.argmax),
    "argMin": _arg("argMin", np.argmin),
    "topK": top_k,
    "cumSum": cum_sum,
}
