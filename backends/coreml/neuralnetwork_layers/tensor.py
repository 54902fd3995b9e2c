"""Indexing and reduction ops the model families need: ReduceMean, Squeeze, Unsqueeze, Slice,
Gather, GatherND, GatherElements and LayerNormalization, each with every axis argument constant at
conversion time (indices may be computed at run time)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core import ir, ops


def _rank(tensor: gs.Tensor) -> int | None:
    return len(tensor.shape) if tensor.shape is not None else None


def _static_shape(tensor: gs.Tensor) -> tuple[int, ...] | None:
    shape = tensor.shape
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    return tuple(shape)


def _axes(node: gs.Node, index: int = 1) -> list[int] | None:
    """Axes from the attribute (older opsets) or a constant input (Squeeze/Unsqueeze 13, Reduce* 18);
    [] when absent, None when they are only known at run time."""
    if "axes" in node.attrs:
        return [int(a) for a in node.attrs["axes"]]
    if len(node.inputs) > index and not ir.is_empty(node.inputs[index]):
        value = ir.constant_value(node.inputs[index])
        return None if value is None else [int(a) for a in value.reshape(-1)]
    return []


def _positive(axes: list[int], rank: int) -> list[int]:
    return sorted(a + rank if a < 0 else a for a in axes)


# --- ReduceMean ---------------------------------------------------------------------------------------


# A reduction to a scalar is emitted: Core ML blobs have rank >= 1, so a (1,) blob holds the
# scalar, which every elementwise consumer broadcasts exactly as ONNX broadcasts a scalar. The
# consumers that count axes refuse a rank-0 input instead (Unsqueeze, Shape): there the (1,)
# blob would count one axis too many.
SCALAR_INPUT = "a rank-0 input, which a NeuralNetwork holds as a (1,) blob: it would count one axis too many"


def _reduce_mean_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes; known input rank."""
    if _axes(node) is None:
        return "ReduceMean axes must be constant"
    if _rank(node.inputs[0]) is None:
        return "ReduceMean needs the input's rank"
    return None


def _reduce_mean(ctx, node: gs.Node) -> None:
    axes = _axes(node)
    keep = bool(int(ops.attr(node, "keepdims")))
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    if not axes:
        if int(ops.attr(node, "noop_with_empty_axes")):
            ctx.builder.add_activation(node.name, "LINEAR", x, out, params=[1.0, 0.0])
            return
        axes = list(range(_rank(node.inputs[0])))
    axes = _positive(axes, _rank(node.inputs[0]))
    ctx.builder.add_reduce_mean(node.name, x, out, axes=axes, keepdims=keep, reduce_all=False)


# --- Squeeze / Unsqueeze -----------------------------------------------------------------------------
# Shapes after constant folding are often unknown on the node; non-negative axes need none, and
# the emitter resolves negative ones against the shape table the backend infers for the whole graph.


def _known_rank(ctx, tensor: gs.Tensor) -> int:
    shape = ctx.shape(tensor)
    if shape is None:
        raise ValueError(f"the rank of {tensor.name} is unknown, so negative axes cannot be resolved")
    return len(shape)


def _squeeze_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes (or a static input shape); result of rank >= 1."""
    axes = _axes(node)
    if axes is None:
        return "Squeeze axes must be constant"
    if not axes and _static_shape(node.inputs[0]) is None:
        return "Squeeze without axes needs the input's shape"
    if _rank(node.outputs[0]) == 0:
        return "Core ML blobs have rank >= 1: cannot squeeze to a scalar"
    return None


def _squeeze(ctx, node: gs.Node) -> None:
    axes = _axes(node) or [i for i, d in enumerate(_static_shape(node.inputs[0])) if d == 1]
    if any(a < 0 for a in axes):
        axes = _positive(axes, _known_rank(ctx, node.inputs[0]))
    ctx.builder.add_squeeze(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, axes=sorted(axes))


def _unsqueeze_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes; an input of rank >= 1."""
    if _rank(node.inputs[0]) == 0:
        return f"Unsqueeze of {SCALAR_INPUT}"
    return None if _axes(node) else "Unsqueeze axes must be constant"


def _unsqueeze(ctx, node: gs.Node) -> None:
    axes = _axes(node)
    if any(a < 0 for a in axes):  # ONNX counts negative axes in the output
        axes = _positive(axes, _known_rank(ctx, node.inputs[0]) + len(axes))
    ctx.builder.add_expand_dims(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, axes=sorted(axes))


# --- Slice ---------------------------------------------------------------------------------------------


def _slice_args(node: gs.Node) -> tuple[list[int], list[int], list[int], list[int]] | None:
    values = []
    for index in (1, 2, 3, 4):
        if index >= len(node.inputs) or ir.is_empty(node.inputs[index]):
            values.append(None)
            continue
        value = ir.constant_value(node.inputs[index])
        if value is None:
            return None
        values.append([int(v) for v in value.reshape(-1)])
    starts, ends, axes, steps = values
    if starts is None or ends is None:
        return None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    return starts, ends, axes, steps


def _slice_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant starts/ends/axes/steps of one length; static input shape; a non-empty
    result."""
    if "starts" in node.attrs:
        return "Slice-1 attributes (the IR is opset >= 13)"
    args = _slice_args(node)
    if args is None:
        return "Slice starts/ends/axes/steps must be constant"
    shape = _static_shape(node.inputs[0])
    if shape is None:
        return "Slice needs the input's static shape"
    starts, ends, axes, steps = args
    if not len(starts) == len(ends) == len(axes) == len(steps):
        return "Slice starts/ends/axes/steps of different lengths"
    rank = len(shape)
    if any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
        return "Slice axes out of range or repeated"
    if any(s == 0 for s in steps):
        return "Slice with a step of 0"
    if 0 in _slice_shape(shape, args):
        return "an empty slice: Core ML blobs have no empty axes"
    return None


def _slice_bounds(dim: int, start: int, stop: int, step: int) -> tuple[int, int, bool]:
    """ONNX's clamped bounds (as Python's slices) as sliceStatic takes them: begin, end and whether
    to mask the end. A negative step through index 0 masks it: the proto's masked end "is assumed
    to be -1", one before index 0, as its (end - begin) / stride size needs; no end value is
    documented to mean that (how a negative end past -dim wraps is not said)."""
    begin, end, _ = slice(start, stop, step).indices(dim)
    if step < 0 and end < 0:
        return begin, 0, True
    return begin, end, False


def _slice_shape(shape: tuple[int, ...], args) -> tuple[int, ...]:
    out = list(shape)
    for start, stop, axis, step in zip(*args, strict=True):
        out[axis] = len(range(*slice(start, stop, step).indices(shape[axis])))
    return tuple(out)


def _slice(ctx, node: gs.Node) -> None:
    shape = _static_shape(node.inputs[0])
    starts, ends, axes, steps = _slice_args(node)
    rank = len(shape)
    begin, end, strides, end_masks = [0] * rank, list(shape), [1] * rank, [False] * rank
    for start, stop, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis + rank if axis < 0 else axis
        begin[axis], end[axis], end_masks[axis] = _slice_bounds(shape[axis], start, stop, step)
        strides[axis] = step
    ctx.builder.add_slice_static(
        node.name,
        ctx.blob(node.inputs[0]),
        node.outputs[0].name,
        begin,
        end,
        strides,
        [False] * rank,
        end_masks,
    )


# --- Gather --------------------------------------------------------------------------------------------


def _gather_check(node: gs.Node, target) -> str | None:
    """Restrictions: indices of rank >= 1 (a scalar index drops the axis, which the layer keeps:
    lower::gather squeezes it); indices computed at run time need a known rank."""
    indices = ir.constant_value(node.inputs[1])
    rank = indices.ndim if indices is not None else _rank(node.inputs[1])
    if rank is None:
        return "Gather indices computed at run time need a known rank"
    if rank == 0:
        return "Gather of a scalar index: the layer keeps the axis it drops (lower::gather)"
    return None


def _gather(ctx, node: gs.Node) -> None:
    axis = int(ops.attr(node, "axis"))
    if ir.constant_value(node.inputs[1]) is None:
        # The proto's GatherLayerParams: "Negative indices and negative axis are supported", so the
        # run-time indices (float blobs holding whole numbers) go in as they are.
        ctx.builder.add_gather(
            node.name, [ctx.blob(node.inputs[0]), ctx.blob(node.inputs[1])], node.outputs[0].name, axis=axis
        )
        return
    indices = ir.constant_value(node.inputs[1]).astype(np.int64)
    if axis < 0 or np.any(indices < 0):
        shape = ctx.shape(node.inputs[0])
        if shape is None:
            raise ValueError("negative axis or indices on an input of unknown shape")
        axis = axis + len(shape) if axis < 0 else axis
        indices = np.where(indices < 0, indices + shape[axis], indices)
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    index_blob = f"{node.name}__indices"
    flat = indices.astype(np.float32)  # Core ML blobs are float
    ctx.builder.add_load_constant_nd(index_blob, index_blob, flat, flat.shape)
    ctx.builder.add_gather(node.name, [x, index_blob], out, axis=axis)


def _gather_nd_check(node: gs.Node, target) -> str | None:
    """Restrictions: batch_dims 0; a known index depth and data shape (run-time indices are wrapped
    by the indexed axes' sizes: the proto does not say the layer takes negative ones)."""
    if int(ops.attr(node, "batch_dims")):
        return "GatherND batch_dims > 0: the gatherND layer has no batch dimensions"
    depth = node.inputs[1].shape[-1] if node.inputs[1].shape else None
    if not isinstance(depth, int) or _static_shape(node.inputs[0]) is None:
        return "GatherND needs a static data shape and index depth"
    return None


def _gather_nd(ctx, node: gs.Node) -> None:
    # GatherNDLayerParams documents no negative indices (its Gather and GatherAlongAxis siblings
    # say "Negative indices ... are supported"): ONNX's -s <= i < s become i + s * (i < 0).
    depth = int(node.inputs[1].shape[-1])
    sizes = np.asarray(ctx.shape(node.inputs[0])[:depth], dtype=np.float32)
    indices = ir.constant_value(node.inputs[1])
    if indices is not None:
        wrapped = np.where(indices < 0, indices + sizes, indices).astype(np.float32)
        index_blob = f"{node.name}__indices"
        ctx.builder.add_load_constant_nd(index_blob, index_blob, wrapped, wrapped.shape)
    else:
        raw, negative, index_blob = (
            ctx.blob(node.inputs[1]),
            f"{node.name}__negative",
            f"{node.name}__indices",
        )
        sizes_blob, shift = f"{node.name}__sizes", f"{node.name}__shift"
        ctx.builder.add_less_than(negative, [raw], negative, alpha=0.0)
        ctx.builder.add_load_constant_nd(sizes_blob, sizes_blob, sizes, sizes.shape)
        ctx.builder.add_multiply_broadcastable(shift, [negative, sizes_blob], shift)
        ctx.builder.add_add_broadcastable(index_blob, [raw, shift], index_blob)
    ctx.builder.add_gather_nd(node.name, [ctx.blob(node.inputs[0]), index_blob], node.outputs[0].name)


def _gather_elements(ctx, node: gs.Node) -> None:
    # GatherAlongAxisLayerParams: "Negative indices and negative axis are supported".
    inputs = [ctx.blob(node.inputs[0]), ctx.blob(node.inputs[1])]
    ctx.builder.add_gather_along_axis(
        node.name, inputs, node.outputs[0].name, axis=int(ops.attr(node, "axis"))
    )


# --- Split ---------------------------------------------------------------------------------------------


def _split_sizes(node: gs.Node) -> list[int] | None:
    """Explicit sizes (input from opset 13, attribute before), else None for an equal split."""
    if "split" in node.attrs:
        return [int(v) for v in node.attrs["split"]]
    if len(node.inputs) > 1 and not ir.is_empty(node.inputs[1]):
        value = ir.constant_value(node.inputs[1])
        return None if value is None else [int(v) for v in value.reshape(-1)]
    return None


def _split_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant, positive split sizes, one per output."""
    given = len(node.inputs) > 1 and not ir.is_empty(node.inputs[1])
    if given and ir.constant_value(node.inputs[1]) is None:
        return "Split sizes must be constant"
    sizes = _split_sizes(node)
    shape = _static_shape(node.inputs[0])
    if sizes is None and shape:  # equal parts, the last one smaller (Split-18's num_outputs)
        extent, parts = shape[int(ops.attr(node, "axis")) % len(shape)], len(node.outputs)
        chunk = -(-extent // parts)
        sizes = [chunk] * (parts - 1) + [extent - chunk * (parts - 1)]
    if sizes is not None and (len(sizes) != len(node.outputs) or any(v <= 0 for v in sizes)):
        return f"Split sizes {sizes} must be positive, one per output (Core ML blobs are not empty)"
    return None


def _split(ctx, node: gs.Node) -> None:
    axis = int(ops.attr(node, "axis"))
    outputs = [t.name for t in node.outputs]
    if len(outputs) == 1:  # SplitNDLayerParams "produces at least 2 outputs": one is a copy
        ctx.builder.add_copy(node.name, ctx.blob(node.inputs[0]), outputs[0])
        return
    sizes = _split_sizes(node)
    if sizes is None:
        shape = ctx.shape(node.inputs[0])
        extent = shape[axis] if shape is not None else None
        if extent is not None and extent % len(outputs):
            # Split-18's num_outputs makes the last chunk smaller: give the sizes explicitly
            chunk = -(-extent // len(outputs))
            sizes = [chunk] * (len(outputs) - 1) + [extent - chunk * (len(outputs) - 1)]
    if sizes is None:
        ctx.builder.add_split_nd(
            node.name, ctx.blob(node.inputs[0]), outputs, axis=axis, num_splits=len(outputs)
        )
    else:
        ctx.builder.add_split_nd(node.name, ctx.blob(node.inputs[0]), outputs, axis=axis, split_sizes=sizes)


# --- LayerNormalization ----------------------------------------------------------------------------


def _layer_norm_check(node: gs.Node, target) -> str | None:
    """Restrictions: static input shape; constant scale and bias broadcasting to the normalised
    shape; Mean/InvStdDev outputs unused."""
    from bridgec.backends.coreml.neuralnetwork_layers.conv import (
        layer_norm_params_fit,  # the normalisations' home
    )

    shape = _static_shape(node.inputs[0])
    if shape is None:
        return "LayerNormalization needs the input's static shape"
    misfit = layer_norm_params_fit(node, shape)
    if misfit:
        return misfit
    if any(t.outputs for t in node.outputs[1:]):
        return "LayerNormalization's Mean/InvStdDev outputs are used"
    for index in (1, 2):
        given = index < len(node.inputs) and not ir.is_empty(node.inputs[index])
        if given and ir.constant_value(node.inputs[index]) is None:
            return "LayerNormalization scale and bias must be constant"
    return None


def _layer_norm(ctx, node: gs.Node) -> None:
    from bridgec.backends.coreml.neuralnetwork_layers.conv import layer_norm_param

    shape = _static_shape(node.inputs[0])
    axis = int(ops.attr(node, "axis"))
    axis = axis + len(shape) if axis < 0 else axis
    normalized = tuple(shape[axis:])
    gamma = layer_norm_param(ir.constant_value(node.inputs[1]), normalized)
    beta = (
        layer_norm_param(ir.constant_value(node.inputs[2]), normalized)
        if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2])
        else np.zeros(normalized, np.float32)
    )
    ctx.builder.add_layer_normalization(
        node.name,
        ctx.blob(node.inputs[0]),
        node.outputs[0].name,
        normalized_shape=list(normalized),
        gamma=gamma,
        beta=beta,
        eps=float(ops.attr(node, "epsilon")),
    )


emitters = [
    Emitter("ReduceMean", _reduce_mean, _reduce_mean_check, layer="reduceMean"),
    Emitter("Squeeze", _squeeze, _squeeze_check, layer="squeeze"),
    Emitter("Unsqueeze", _unsqueeze, _unsqueeze_check, layer="expandDims"),
    Emitter("Slice", _slice, _slice_check, layer="sliceStatic"),
    Emitter("Gather", _gather, _gather_check, layer="gather"),
    Emitter(
        "GatherND",
        _gather_nd,
        _gather_nd_check,
        layer="gatherND (lessThan, multiply, add for run-time indices)",
    ),
    Emitter("GatherElements", _gather_elements, layer="gatherAlongAxis"),
    Emitter("Split", _split, _split_check, layer="splitND, copy"),
    Emitter("LayerNormalization", _layer_norm, _layer_norm_check, min_spec=4, layer="layerNormalization"),
]
