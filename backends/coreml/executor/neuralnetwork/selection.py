"""Index-producing and scanning layers: ``argMax``, ``argMin``, ``topK``, ``cumSum``, as
NeuralNetwork.proto's ArgMax/ArgMin/TopK/CumSumLayerParams comments describe them.

Indices are returned as float blobs (every Core ML NeuralNetwork blob is float). The proto does not
say which index a tie gives, nor in which order topK returns its K elements: the executor takes the
lowest index and largest (bottom K: smallest) first, what numpy's argmax and a stable sort give and
what ONNX specifies for ArgMax/ArgMin/TopK; tests/backends/coreml/executor/neuralnetwork/test_exec_nn_selection.py pins
that assumption against numpy, and the emitters' property tests hold it against onnxruntime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32, norm_axis


def _arg(kind: str, fn: Any) -> LayerFn:
    """ArgMaxLayerParams / ArgMinLayerParams: "the indices of the maximum [minimum] value along a
    specified axis", "Negative indexing is supported"; "Output has rank one less than the input if
    "removeDim" is True and input rank is more than 1", and "input shape = (5,) ... output shape =
    (1,), if removeDim = False or True"."""

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
    """TopKLayerParams: "returns top K (or bottom K) values and the corresponding indices of the input
    along a given axis" ("useBottomK: if true, bottom K (values, indices) are returned instead");
    "The second input is the value of the K, and is optional"; "axis: negative indexing is
    supported"; both outputs have the input's rank, K along ``axis``."""
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
    """CumSumLayerParams: "computes the cumsum values of the input along a given axis"; "If the second
    input is present, it is used to determine the value of "axis""; excludeFinalSum: "the first element
    of the output is 0, and the last element contains the sum of the input up to the penultimate
    value"; reverse: "cumsum is performed in the opposite direction" (the proto's [4, 6, 7] example:
    [4, 10, 17], [0, 4, 10], [17, 13, 7], [13, 7, 0])."""
    p = layer.cumSum
    x = f32(inputs[0])
    axis = int(np.asarray(inputs[1]).reshape(-1)[0]) if len(inputs) > 1 else int(p.axis)
    axis = norm_axis(axis, x.ndim)
    if p.reverse:
        x = np.flip(x, axis)
    if p.excludeFinalSum:  # the running sum of the elements before each one: shift in a zero
        x = np.concatenate(
            [np.zeros_like(np.take(x, [0], axis=axis)), np.delete(x, -1, axis=axis)], axis=axis
        )
    y = np.cumsum(x, axis=axis, dtype=np.float32)
    if p.reverse:
        y = np.flip(y, axis)
    return [np.ascontiguousarray(y)]


LAYERS: dict[str, LayerFn] = {
    "argMax": _arg("argMax", np.argmax),
    "argMin": _arg("argMin", np.argmin),
    "topK": top_k,
    "cumSum": cum_sum,
}
