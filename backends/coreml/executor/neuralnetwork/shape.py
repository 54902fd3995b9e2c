"""Data-movement layers: reshapes, transposes, concatenation, slicing, splitting, padding,
constants and reductions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn, f32, fold_batch, norm_axis
from bridgec.backends.coreml.executor.weights import weight_array


def flatten_to_2d(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x = f32(inputs[0])
    axis = int(layer.flattenTo2D.axis)
    # axis == rank is allowed (gives [N, 1]), so normalise against rank + 1.
    axis = norm_axis(axis, x.ndim + 1)
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


def flatten(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x, lead = fold_batch(f32(inputs[0]), 3, "flatten")
    if layer.flatten.mode == 1:  # CHANNEL_LAST: flatten in H, W, C order
        x = x.transpose(0, 2, 3, 1)
    return [x.reshape(lead + (-1, 1, 1))]


def reshape_static(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    target = tuple(int(v) for v in layer.reshapeStatic.targetShape)
    x = f32(inputs[0])
    try:
        return [x.reshape(target)]
    except ValueError as exc:
        raise ValueError(f"cannot reshape {x.shape} to {target}") from exc


def reshape_like(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [f32(inputs[0]).reshape(inputs[1].shape)]


def transpose(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    axes = [int(a) for a in layer.transpose.axes]
    x = f32(inputs[0])
    return [np.ascontiguousarray(x.transpose([norm_axis(a, x.ndim) for a in axes]))]


def squeeze(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.squeeze
    x = f32(inputs[0])
    if p.squeezeAll:
        y = np.squeeze(x)
        # Core ML blobs never drop below rank 1.
        return [y.reshape(1) if y.ndim == 0 else y]
    axes = tuple(norm_axis(int(a), x.ndim) for a in p.axes)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of shape {x.shape}")
    y = np.squeeze(x, axis=axes)
    return [y.reshape(1) if y.ndim == 0 else y]


def expand_dims(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x = f32(inputs[0])
    axes = [int(a) for a in layer.expandDims.axes]
    out_rank = x.ndim + len(axes)
    # Negative axes count from the end of the *output*, as in numpy.
    return [np.expand_dims(x, tuple(norm_axis(a, out_rank) for a in axes))]


def concat_nd(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    xs = [f32(x) for x in inputs]
    axis = norm_axis(int(layer.concatND.axis), xs[0].ndim)
    if layer.concatND.interleave:
        # Interleaved: slice j of every input in turn, so equal extents along ``axis`` are needed.
        if len({x.shape[axis] for x in xs}) != 1:
            raise ValueError(
                f"interleaved concat needs equal sizes along axis {axis}: {[x.shape for x in xs]}"
            )
        stacked = np.stack(xs, axis=axis + 1)
        shape = list(xs[0].shape)
        shape[axis] *= len(xs)
        return [stacked.reshape(shape)]
    return [np.concatenate(xs, axis=axis)]


def concat(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    xs = [f32(x) for x in inputs]
    axis = -5 if layer.concat.sequenceConcat else -3
    if any(x.ndim < -axis for x in xs):
        raise ValueError(f"concat along axis {axis} needs rank >= {-axis}, got {[x.shape for x in xs]}")
    return [np.concatenate(xs, axis=axis)]


def load_constant_nd(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    shape = tuple(int(v) for v in layer.loadConstantND.shape)
    return [weight_array(layer.loadConstantND.data, shape, "loadConstantND data")]


def load_constant(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    shape = tuple(int(v) for v in layer.loadConstant.shape)
    if len(shape) != 3:
        raise ValueError(f"loadConstant shape must be [C, H, W], got {shape}")
    return [weight_array(layer.loadConstant.data, shape, "loadConstant data").reshape((1, 1) + shape)]


def slice_static(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.sliceStatic
    x = f32(inputs[0])
    rank = x.ndim
    fields = [list(p.beginIds), list(p.endIds), list(p.strides), list(p.beginMasks), list(p.endMasks)]
    if any(len(f) != rank for f in fields):
        raise ValueError(f"sliceStatic parameters must all have length {rank} (the input rank)")
    begin, end, strides, bmask, emask = fields
    squeeze_mask = list(p.squeezeMasks) or [False] * rank
    index: list[Any] = []
    for i in range(rank):
        b = None if bmask[i] else int(begin[i])
        e = None if emask[i] else int(end[i])
        if squeeze_mask[i]:
            index.append(int(begin[i]))
        else:
            index.append(slice(b, e, int(strides[i]) or 1))
    y = x[tuple(index)]
    return [np.ascontiguousarray(y.reshape(1) if y.ndim == 0 else y)]


def split_nd(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.splitND
    x = f32(inputs[0])
    axis = norm_axis(int(p.axis), x.ndim)
    n_out = len(layer.output)
    if len(p.splitSizes):
        sizes = [int(s) for s in p.splitSizes]
    else:
        if x.shape[axis] % n_out:
            raise ValueError(f"axis {axis} of size {x.shape[axis]} does not split evenly into {n_out}")
        sizes = [x.shape[axis] // n_out] * n_out
    if sum(sizes) != x.shape[axis] or len(sizes) != n_out:
        raise ValueError(
            f"split sizes {sizes} do not cover axis {axis} of shape {x.shape} for {n_out} outputs"
        )
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def split(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x = f32(inputs[0])
    n_out = len(layer.output)
    if x.ndim < 3 or x.shape[-3] % n_out:
        raise ValueError(f"cannot split axis -3 of shape {x.shape} into {n_out}")
    return list(np.split(x, n_out, axis=-3))


def padding(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.padding
    x = f32(inputs[0])
    amounts = list(p.paddingAmounts.borderAmounts)
    if len(amounts) != 2:
        raise ValueError("padding.paddingAmounts must have 2 entries [H, W]")
    width = [(0, 0)] * (x.ndim - 2) + [(int(a.startEdgeSize), int(a.endEdgeSize)) for a in amounts]
    kind = p.WhichOneof("PaddingType")
    if kind == "constant":
        return [np.pad(x, width, mode="constant", constant_values=np.float32(p.constant.value))]
    if kind == "reflection":
        return [np.pad(x, width, mode="reflect")]
    if kind == "replication":
        return [np.pad(x, width, mode="edge")]
    raise UnsupportedLayerError(layer.name, "padding", f"padding type {kind!r}")


def copy(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [f32(inputs[0]).copy()]


def _reduction(kind: str, fn: Any) -> LayerFn:
    """Reduce{Sum,Mean,Max,Min,Prod,L1,L2,SumSquare,LogSum,LogSumExp}LayerParams: "axes: dimensions
    along which to perform reduction", "Negative indexing is supported"; "keepDims: if True, keep the
    reduced dimensions (value will be 1), otherwise, reduced dimensions are squeezed"; "reduceAll:
    ignore the "axes" parameter, perform reduction along all axes". The proto does not say what a
    reduction to no axis left gives; blobs have rank >= 1, so it is taken as shape (1,)."""

    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        p = getattr(layer, kind)
        x = f32(inputs[0])
        axes = None if p.reduceAll else tuple(norm_axis(int(a), x.ndim) for a in p.axes)
        y = fn(x, axes, bool(p.keepDims))
        y = np.asarray(y, dtype=np.float32)
        return [y.reshape(1) if y.ndim == 0 else y]

    return run


def gather(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """GatherLayerParams: params.shape[:axis] + indices.shape + params.shape[axis + 1:]."""
    x = f32(inputs[0])
    axis = norm_axis(int(layer.gather.axis), x.ndim)
    indices = np.asarray(inputs[1]).astype(np.int64)  # blobs are float: indices arrive as floats
    if np.any(indices >= x.shape[axis]) or np.any(indices < -x.shape[axis]):
        raise ValueError(f"gather index out of range for axis {axis} of shape {x.shape}")
    return [np.take(x, indices, axis=axis)]


# What each reduction computes is only named by the proto ("reduction with L1 normalization",
# "with logSum operation", ...). reduceLogSum is taken as log(sum x): the proto is silent, and the older
# ReduceLayerParams' LOGSUM is a sum of logs, sum(log(x + epsilon)); log of the sum is what coremltools
# itself lowers MIL's reduce_log_sum ("the natural logarithm of the sum") to this layer for.
# tests/backends/coreml/executor/test_reduce.py holds these layers to numpy, and the emitters' tests
# hold ONNX's ReduceLogSum emitted as this layer to onnxruntime. (The proto's comment on
# ReduceSumSquareLayerParams says "logSumExp": a copy of the next message's.)
REDUCTIONS: dict[str, LayerFn] = {
    "reduceSum": _reduction("reduceSum", lambda x, a, k: x.sum(axis=a, keepdims=k)),
    "reduceMean": _reduction("reduceMean", lambda x, a, k: x.mean(axis=a, keepdims=k)),
    "reduceMax": _reduction("reduceMax", lambda x, a, k: x.max(axis=a, keepdims=k)),
    "reduceMin": _reduction("reduceMin", lambda x, a, k: x.min(axis=a, keepdims=k)),
    "reduceProd": _reduction("reduceProd", lambda x, a, k: x.prod(axis=a, keepdims=k)),
    "reduceL1": _reduction("reduceL1", lambda x, a, k: np.abs(x).sum(axis=a, keepdims=k)),
    "reduceL2": _reduction("reduceL2", lambda x, a, k: np.sqrt(np.square(x).sum(axis=a, keepdims=k))),
    "reduceSumSquare": _reduction("reduceSumSquare", lambda x, a, k: np.square(x).sum(axis=a, keepdims=k)),
    "reduceLogSum": _reduction("reduceLogSum", lambda x, a, k: np.log(x.sum(axis=a, keepdims=k))),
    "reduceLogSumExp": _reduction(
        "reduceLogSumExp",
        lambda x, a, k: (
            np.log(np.exp(x - x.max(axis=a, keepdims=True)).sum(axis=a, keepdims=k))
            + (x.max(axis=a, keepdims=k))
        ),
    ),
}
