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
    """FlattenTo2DLayerParams: "First dimension of output is the product of all the dimensions in
    input[:axis] ... Second ... input[axis:]". Its examples count a negative axis from the rank:
    (3,) axis -1 -> (1, 3), (4, 3) axis -1 -> (4, 3), (5, 5, 3) axis -2 -> (5, 15); axis = rank
    gives (N, 1), as (3,) axis 1 -> (3, 1)."""
    x = f32(inputs[0])
    axis = int(layer.flattenTo2D.axis)
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"flattenTo2D axis {axis} out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


def flatten(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x, lead = fold_batch(f32(inputs[0]), 3, "flatten")
    if layer.flatten.mode == 1:  # CHANNEL_LAST: flatten in H, W, C order
        x = x.transpose(0, 2, 3, 1)
    return [x.reshape(lead + (-1, 1, 1))]


def reshape_static(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ReshapeStaticLayerParams: "Output tensor is the reshaped version of the input and has shape
    as specified in the parameter targetShape" (row-major order, as every reshape; the proto does
    not say, nor give 0 or -1 a meaning: they are taken literally, so a model using them fails)."""
    target = tuple(int(v) for v in layer.reshapeStatic.targetShape)
    x = f32(inputs[0])
    try:
        return [x.reshape(target)]
    except ValueError as exc:
        raise ValueError(f"cannot reshape {x.shape} to {target}") from exc


def reshape_like(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [f32(inputs[0]).reshape(inputs[1].shape)]


def transpose(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """TransposeLayerParams: output shape ``[InputShape[axis[0]], InputShape[axis[1]], ...]``;
    "axes should be a permutation of [0,1,2,...,N-1]" (numpy's transpose)."""
    axes = [int(a) for a in layer.transpose.axes]
    x = f32(inputs[0])
    return [np.ascontiguousarray(x.transpose([norm_axis(a, x.ndim) for a in axes]))]


def squeeze(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """SqueezeLayerParams: removes the unit ``axes`` (negative ones count from the back), or every
    unit axis with ``squeezeAll``; "If input rank is 1, output rank is also 1". Squeezing an axis
    that is not 1 is not described: an error here."""
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
    """ExpandDimsLayerParams: "Axis values provided here get dimension 1 in the output tensor";
    its examples count negative axes in the output: (10, 5) axes (-2, -1) -> (10, 5, 1, 1)."""
    x = f32(inputs[0])
    axes = [int(a) for a in layer.expandDims.axes]
    out_rank = x.ndim + len(axes)
    # Negative axes count from the end of the *output*, as in numpy.
    return [np.expand_dims(x, tuple(norm_axis(a, out_rank) for a in axes))]


def concat_nd(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ConcatNDLayerParams: "Requires at least 2 input"; all dimensions but ``axis`` (negative
    supported) match, the output's ``axis`` is their sum; ``interleave`` (iOS14) takes slice j of
    every input in turn (its example)."""
    xs = [f32(x) for x in inputs]
    if len(xs) < 2:
        raise ValueError(f"concatND requires at least 2 inputs, got {len(xs)}")
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
    """LoadConstantNDLayerParams: "A tensor with shape as provided in the parameter shape"."""
    shape = tuple(int(v) for v in layer.loadConstantND.shape)
    return [weight_array(layer.loadConstantND.data, shape, "loadConstantND data")]


def load_constant(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    shape = tuple(int(v) for v in layer.loadConstant.shape)
    if len(shape) != 3:
        raise ValueError(f"loadConstant shape must be [C, H, W], got {shape}")
    return [weight_array(layer.loadConstant.data, shape, "loadConstant data").reshape((1, 1) + shape)]


def slice_static(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """SliceStaticLayerParams: "extracts a slice of size (end - begin) / stride ... Support negative
    indexing and negative strides"; its example is numpy's ``input[:3:2, 2::2, ::2]``. A begin mask
    makes begin 0 and an end mask end "-1": with a positive stride the example reads that as "to
    the end", with a negative one -1 is one before index 0 (what (end - begin) / stride counts), so
    both are numpy's None there; a begin mask with a negative stride (begin 0, a single element, or
    the whole axis as TensorFlow's strided slice) is not settled: an error here. Bounds past the
    axis are not described: numpy's clamping is assumed (bridgec's Slice emitter writes in-range
    bounds)."""
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
        stride = int(strides[i])
        if stride == 0:
            raise ValueError(f"sliceStatic stride 0 on axis {i}")
        if stride < 0 and bmask[i] and not squeeze_mask[i]:
            raise ValueError(
                f"sliceStatic: a begin mask with the negative stride {stride} on axis {i} is not settled"
            )
        b = None if bmask[i] else int(begin[i])
        e = None if emask[i] else int(end[i])
        if squeeze_mask[i]:
            index.append(int(begin[i]))
        else:
            index.append(slice(b, e, stride))
    y = x[tuple(index)]
    return [np.ascontiguousarray(y.reshape(1) if y.ndim == 0 else y)]


def split_nd(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """SplitNDLayerParams: "either uniformly splits the input tensor into num_splits tensors, or
    splits according to the given split sizes"; "produces at least 2 outputs"; negative axis
    supported."""
    p = layer.splitND
    x = f32(inputs[0])
    axis = norm_axis(int(p.axis), x.ndim)
    n_out = len(layer.output)
    if n_out < 2:
        raise ValueError(f"splitND produces at least 2 outputs, this one has {n_out}")
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
    """PaddingLayerParams: pads the last two axes ("the leading dimensions ... are all treated as
    batch") by ``borderAmounts`` [H, W]; constant fills ``value``, reflection "reflects the values at
    the border" without repeating it, replication repeats it (the proto's examples: numpy's
    reflect and edge). A reflection wider than the axis - 1 is not described: an error here; nor is
    a replication wider than the axis, which is assumed to repeat the border value (tested on both
    sides: the executor by index clamping, the Pad emitter against onnxruntime)."""
    p = layer.padding
    x = f32(inputs[0])
    amounts = list(p.paddingAmounts.borderAmounts)
    if len(amounts) != 2:
        raise ValueError("padding.paddingAmounts must have 2 entries [H, W]")
    if x.ndim < 2:
        raise ValueError(f"padding needs an input of rank >= 2, got shape {x.shape}")
    width = [(0, 0)] * (x.ndim - 2) + [(int(a.startEdgeSize), int(a.endEdgeSize)) for a in amounts]
    kind = p.WhichOneof("PaddingType")
    if kind == "reflection" and any(max(w) > d - 1 for w, d in zip(width, x.shape, strict=True)):
        raise ValueError(f"reflection padding {width[-2:]} reaches past the border of shape {x.shape}")
    if kind == "constant":
        return [np.pad(x, width, mode="constant", constant_values=np.float32(p.constant.value))]
    if kind == "reflection":
        return [np.pad(x, width, mode="reflect")]
    if kind == "replication":
        return [np.pad(x, width, mode="edge")]
    raise UnsupportedLayerError(layer.name, "padding", f"padding type {kind!r}")


def copy(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """CopyLayerParams: "copies its input tensor to the output tensor"."""
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
    """GatherLayerParams: "similar in functionality to the numpy.take method"; output shape
    params.shape[:axis] + indices.shape + params.shape[axis + 1:]; "Negative indices and negative
    axis are supported" (counted from the back, as numpy's)."""
    x = f32(inputs[0])
    axis = norm_axis(int(layer.gather.axis), x.ndim)
    indices = np.asarray(inputs[1]).astype(np.int64)  # blobs are float: indices arrive as floats
    if np.any(indices >= x.shape[axis]) or np.any(indices < -x.shape[axis]):
        raise ValueError(f"gather index out of range for axis {axis} of shape {x.shape}")
    return [np.take(x, indices, axis=axis)]


def gather_nd(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """GatherNDLayerParams: indices [I_0, .., I_(K-1), I_K] are I_0 * .. * I_(K-1) points of an
    I_K-dimensional space, "output[i,....,j,:,:,..,:] = params[indices[i,...,j,:], :,:,..,:]", output
    shape [I_0, .., I_(K-1)] + params.shape[I_K:]. The proto names no negative indices (its Gather and
    GatherAlongAxis say they take them): an index outside [0, size) is an error here."""
    x = f32(inputs[0])
    indices = np.asarray(inputs[1]).astype(np.int64)  # blobs are float: indices arrive as floats
    depth = indices.shape[-1]
    sizes = np.asarray(x.shape[:depth])
    if np.any(indices < 0) or np.any(indices >= sizes):
        raise ValueError(f"gatherND index outside [0, size) for data of shape {x.shape}")
    points = indices.reshape(-1, depth)
    picked = x[tuple(points.T)]
    return [picked.reshape(indices.shape[:-1] + x.shape[depth:])]


def gather_along_axis(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """GatherAlongAxisLayerParams: "similar in functionality to the numpy.take_along_axis method";
    "Negative indices and negative axis are supported"."""
    x = f32(inputs[0])
    axis = norm_axis(int(layer.gatherAlongAxis.axis), x.ndim)
    indices = np.asarray(inputs[1]).astype(np.int64)
    if np.any(indices >= x.shape[axis]) or np.any(indices < -x.shape[axis]):
        raise ValueError(f"gatherAlongAxis index out of range for axis {axis} of shape {x.shape}")
    return [np.take_along_axis(x, np.where(indices < 0, indices + x.shape[axis], indices), axis=axis)]


# What each reduction computes is only named by the proto ("reduction with L1 normalization",
# "with logSum operation", ...). reduceLogSum is taken as log(sum x): the proto is silent, and the older
# ReduceLayerParams' LOGSUM is a sum of logs, sum(log(x + epsilon)); log of the sum is what coremltools
# itself lowers MIL's reduce_log_sum ("the natural logarithm of the sum") to this layer for.
# tests/backends/coreml/executor/neuralnetwork/test_exec_nn_reduce.py holds these layers to numpy, and the emitters' tests
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
