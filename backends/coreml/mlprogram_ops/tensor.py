"""Data movement: Concat, Split, Slice, Gather, GatherND, GatherElements, Tile, Pad, DepthToSpace, SpaceToDepth, CumSum, TopK."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import (
    MilEmitter,
    constant_inputs,
    int_list,
    known_at_build,
    operands,
    static_shape,
)
from bridgec.backends.coreml.mlprogram_ops.shape import rank_reason
from bridgec.core import ir, ops
from bridgec.core.errors import ConversionError
from bridgec.core.words import plural


def _rank_check(node: gs.Node, target) -> str | None:
    """Restrictions: tensors of rank <= 5."""
    return rank_reason(node)


def _concat(ctx, node: gs.Node) -> None:
    out, axis = node.outputs[0], int(node.attrs["axis"])
    consts = [ctx.const(t) for t in node.inputs]
    if all(c is not None for c in consts):  # shape arithmetic: keep it foldable
        ctx.set(out, np.concatenate([np.asarray(c) for c in consts], axis=axis))
        return
    values = operands(ctx, node.inputs)
    ctx.set(out, ctx.mb.concat(values=values, axis=axis, name=ctx.name(out)))


def _split_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant split sizes, one per output, adding up to the axis when its size is known."""
    reason = constant_inputs(node, (1,), "split")
    if reason:
        return reason
    sizes = int_list(node, 1, "split")  # None when they fold only while building, or are not given
    given = (len(node.inputs) > 1 and not ir.is_empty(node.inputs[1])) or "split" in node.attrs
    shape = static_shape(node.inputs[0])
    dim = shape[int(ops.attr(node, "axis")) % len(shape)] if shape else None
    if sizes is None and not given and dim is not None:
        sizes = _equal_parts(dim, len(node.outputs))
    if sizes is not None:
        if len(sizes) != len(node.outputs):
            return f"{len(sizes)} split sizes for {plural(node.outputs, 'output')}"
        if dim is not None and sum(sizes) != dim:
            return f"split sizes {sizes} do not add up to the axis' {dim}"
        if min(sizes) <= 0:
            return f"split sizes {sizes}: an empty part has no MIL form"
    return rank_reason(node)


def _equal_parts(dim: int, parts: int) -> list[int]:
    """Split-18's num_outputs (and an equal split before it): ceil-sized parts, the last smaller."""
    chunk = -(-dim // parts)
    return [chunk] * (parts - 1) + [dim - chunk * (parts - 1)]


def _split(ctx, node: gs.Node) -> None:
    x = ctx.value(node.inputs[0])
    axis = int(ops.attr(node, "axis")) % len(x.shape)
    dim, parts = int(x.shape[axis]), len(node.outputs)
    sizes = int_list(node, 1, "split", ctx.const)
    if sizes is None:
        sizes = _equal_parts(dim, parts)
    if len(sizes) == 1:  # one part is x itself (MIL's split would return a lone Var, not a tuple)
        ctx.set(node.outputs[0], x)
        return
    # multi-output ops are named after the op; build_program names graph outputs with an identity
    results = ctx.mb.split(x=x, split_sizes=sizes, axis=axis, name=ctx.tmp(node, "split"))
    for tensor, result in zip(node.outputs, results, strict=True):
        ctx.set(tensor, result)


def _slice_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant starts/ends/axes/steps of one length; non-empty result unless it folds."""
    reason = constant_inputs(node, (1, 2, 3, 4), "starts/ends/axes/steps")
    if reason:
        return reason
    lists = [int_list(node, i, name) for i, name in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps"))]
    lengths = {len(values) for values in lists if values is not None}
    if len(lengths) > 1:
        return f"starts/ends/axes/steps of different lengths {[len(v) for v in lists if v is not None]}"
    starts, ends, axes, steps = lists
    if steps is not None and 0 in steps:
        return "a step of 0"
    # an empty result is fine while it folds (numpy has empty arrays, MIL tensors do not). ONNX's
    # clamping decides emptiness, not the shape the IR holds: onnxruntime reads an end of INT64_MAX
    # (or a start of INT64_MIN) with a negative step as "to the front", where ONNX's reference clamps
    # it to an empty slice
    shape, source = static_shape(node.outputs[0]), static_shape(node.inputs[0])
    if source is not None and starts is not None and ends is not None:
        shape = list(source)
        for s, e, a, t in zip(
            starts, ends, axes or range(len(starts)), steps or [1] * len(starts), strict=True
        ):
            shape[a % len(source)] = len(range(*slice(s, e, t).indices(source[a % len(source)])))
    if 0 in (shape or ()) and not known_at_build(node.inputs[0]):
        return "an empty slice has no MIL form"
    return rank_reason(node)


def _slice_params(ctx, node: gs.Node, shape: tuple[int, ...]):
    """Full-rank begin/end/stride and end_mask for slice_by_index, ONNX's clamping applied (as
    Python's slices)."""
    rank = len(shape)
    starts, ends = int_list(node, 1, "starts", ctx.const), int_list(node, 2, "ends", ctx.const)
    axes = int_list(node, 3, "axes", ctx.const) or list(range(len(starts)))
    steps = int_list(node, 4, "steps", ctx.const) or [1] * len(starts)
    begin, end, stride, end_mask = [0] * rank, list(shape), [1] * rank, [False] * rank
    for s, e, a, t in zip(starts, ends, axes, steps, strict=True):
        a = a % rank
        begin[a], end[a], stride[a] = slice(s, e, t).indices(shape[a])
        if t < 0 and end[a] < 0:
            # through index 0: no end value says so (coremltools wraps a negative end once and
            # clamps it to [0, dim]); its end_mask with a negative stride does, as TensorFlow's
            # strided slice (coremltools' type inference; the op reference is silent there)
            end[a], end_mask[a] = 0, True
    return begin, end, stride, end_mask


def _slice(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    begin, end, stride, end_mask = _slice_params(ctx, node, tuple(int(d) for d in x.shape))
    value = ctx.const(node.inputs[0])
    if value is not None:  # constant shape arithmetic folds here
        index = tuple(
            slice(b, None if m else e, s) for b, e, s, m in zip(begin, end, stride, end_mask, strict=True)
        )
        ctx.set(out, np.asarray(value)[index])
        return
    y = ctx.mb.slice_by_index(x=x, begin=begin, end=end, stride=stride, end_mask=end_mask, name=ctx.name(out))
    ctx.set(out, y)


def _gather_check(node: gs.Node, target) -> str | None:
    """Restrictions: tensors of rank <= 5; data of fp16, fp32 or int32 (MIL's gather takes no bool:
    lower::gather gathers it as int32), unless it folds to a constant."""
    data = node.inputs[0]
    reason = _bool_data_reason(node)
    if reason:
        return reason
    source, indices = data.shape, node.inputs[1]
    value = ir.constant_value(indices)
    ndim = value.ndim if value is not None else None if indices.shape is None else len(indices.shape)
    return rank_reason(node, None if source is None or ndim is None else len(source) - 1 + ndim)


def _non_negative(ctx, node: gs.Node, indices: gs.Tensor, sizes, runtime: bool = True):
    """ONNX counts negative indices from the end; MIL's gather does so only up to iOS16 and its
    scatter_nd does not say (the op reference; from iOS17 both take them as out of bounds), so
    indices reach MIL non-negative: folded for constants, else (where ``runtime``)
    select(i < 0, i + size, i), the conversion the op reference gives."""
    from bridgec.backends.coreml.mlprogram import mil_array

    value = ctx.const(indices)
    if value is not None:
        return mil_array(np.where(value < 0, value + np.asarray(sizes), value))
    var = ctx.value(indices)
    if not runtime:
        return var
    negative = ctx.mb.less(x=var, y=np.int32(0), name=ctx.tmp(node, "negative"))
    wrapped = ctx.mb.add(x=var, y=np.asarray(sizes, np.int32), name=ctx.tmp(node, "wrapped"))
    return ctx.mb.select(cond=negative, a=wrapped, b=var, name=ctx.tmp(node, "indices"))


def _gather(ctx, node: gs.Node) -> None:
    out = node.outputs[0]
    x = ctx.value(node.inputs[0])
    axis = int(ops.attr(node, "axis")) % len(x.shape)
    indices = ctx.const(node.inputs[1])
    data = ctx.const(node.inputs[0])
    if indices is not None and data is not None:  # shape arithmetic folds here
        ctx.set(out, np.take(data, indices, axis=axis))
        return
    # iOS15/16 gather takes negative indices; coremltools' iOS17 gather adds this select itself
    indices = _non_negative(ctx, node, node.inputs[1], int(x.shape[axis]), runtime=ctx.ios >= 17)
    ctx.set(out, ctx.mb.gather(x=x, indices=indices, axis=axis, name=ctx.name(out)))


def _bool_data_reason(node: gs.Node) -> str | None:
    data = node.inputs[0]
    if data.dtype is not None and np.dtype(data.dtype) == np.bool_ and not known_at_build(data):
        return f"{node.op} of bool data (MIL's gathers take fp16, fp32 or int32)"
    return None


def _gather_nd_check(node: gs.Node, target) -> str | None:
    """Restrictions: data of fp16, fp32 or int32 (bool: lower::gather gathers it as int32); a known
    index depth; batch_dims 0 before iOS17 (whose gather_nd gains batch_dims); tensors of rank <= 5."""
    reason = _bool_data_reason(node)
    if reason:
        return reason
    indices = node.inputs[1].shape
    if indices is None or not isinstance(indices[-1], int) or node.inputs[0].shape is None:
        return "GatherND needs the ranks of its inputs and the index depth (indices' last dimension)"
    if int(ops.attr(node, "batch_dims")) and (target is None or target.ios < 17):
        return "GatherND batch_dims > 0: MIL's gather_nd takes batch_dims from iOS17 (choose --target iOS17)"
    return rank_reason(node)


def _gather_nd(ctx, node: gs.Node) -> None:
    out, x = node.outputs[0], ctx.value(node.inputs[0])
    batch_dims = int(ops.attr(node, "batch_dims"))
    depth = int(node.inputs[1].shape[-1])
    # ONNX takes -s <= i < s per indexed axis; the MIL op reference takes no negative indices from
    # iOS17 and says nothing before it: wrapped by each indexed axis' size (see _non_negative).
    sizes = [int(d) for d in x.shape[batch_dims : batch_dims + depth]]
    indices = _non_negative(ctx, node, node.inputs[1], sizes)
    extra = {"batch_dims": batch_dims} if ctx.ios >= 17 else {}
    ctx.set(out, ctx.mb.gather_nd(x=x, indices=indices, name=ctx.name(out), **extra))


def _gather_elements_check(node: gs.Node, target) -> str | None:
    """Restrictions: data of fp16, fp32 or int32 (bool: lower::gather gathers it as int32); tensors
    of rank <= 5."""
    return _bool_data_reason(node) or rank_reason(node)


def _gather_elements(ctx, node: gs.Node) -> None:
    out, x = node.outputs[0], ctx.value(node.inputs[0])
    axis = int(ops.attr(node, "axis")) % len(x.shape)
    indices = _non_negative(ctx, node, node.inputs[1], int(x.shape[axis]))
    ctx.set(out, ctx.mb.gather_along_axis(x=x, indices=indices, axis=axis, name=ctx.name(out)))


def _tile(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    ctx.set(out, ctx.mb.tile(x=x, reps=ctx.value(node.inputs[1]), name=ctx.name(out)))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


def _pad_widths(node: gs.Node, rank: int, const=ir.constant_value) -> list[tuple[int, int]] | None:
    """(before, after) for every axis: ONNX lists every begin, then every end, for ``axes`` (Pad-18;
    all axes when absent); None until pads and axes are known."""
    pads = int_list(node, 1, "pads", const)
    present = len(node.inputs) > 3 and not ir.is_empty(node.inputs[3])
    axes = int_list(node, 3, "axes", const) if present else list(range(rank))
    if pads is None or axes is None or len(pads) != 2 * len(axes):
        return None
    widths = [(0, 0)] * rank
    for i, axis in enumerate(axes):
        widths[axis % rank] = (pads[i], pads[len(axes) + i])
    return widths


def _pad_limit(mode: str, widths: list[tuple[int, int]], shape: tuple[int, ...]) -> str | None:
    """MIL's pad takes at most D - 1 (reflect) or D (replicate) on an axis of size D (op reference)."""
    most = {"reflect": 1, "edge": 0}.get(mode)
    if most is None:
        return None
    for axis, ((before, after), dim) in enumerate(zip(widths, shape, strict=True)):
        if max(before, after) > dim - most:
            return f"{mode} pads of {max(before, after)} on axis {axis} of size {dim} (MIL: at most {dim - most})"
    return None


def _pad_check(node: gs.Node, target) -> str | None:
    """Restrictions: mode constant, reflect or edge; constant, non-negative pads, value and axes;
    reflect pads < the axis' size, edge pads <= it; tensors of rank <= 5."""
    mode = str(ops.attr(node, "mode"))
    if mode not in _PAD_MODES:
        return f"pad mode {mode!r} has no MIL form"
    reason = constant_inputs(node, (1, 2, 3), "pads/constant_value/axes")
    if reason:
        return reason
    shape = node.inputs[0].shape
    widths = _pad_widths(node, len(shape)) if shape is not None else None  # None: folds while building
    if widths is not None and any(b < 0 or e < 0 for b, e in widths):
        return "negative pads (cropping) have no MIL form"
    if widths is not None and static_shape(node.inputs[0]) is not None:
        reason = _pad_limit(mode, widths, static_shape(node.inputs[0]))
        if reason:
            return reason
    return rank_reason(node)


def _pad(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    shape = tuple(int(d) for d in x.shape)
    widths = _pad_widths(node, len(shape), ctx.const)
    mode = str(ops.attr(node, "mode"))
    if widths is None or any(b < 0 or e < 0 for b, e in widths):
        raise ConversionError(
            f"node {node.name!r} (Pad): pads {widths} are not non-negative, one pair per axis"
        )
    reason = _pad_limit(mode, widths, shape)
    if reason:
        raise ConversionError(f"node {node.name!r} (Pad): {reason}")
    first = next((i for i, w in enumerate(widths) if w != (0, 0)), len(widths))
    if first == len(widths):
        ctx.set(out, x)
        return
    # MIL pads the last N axes; leading unpadded ones are left out
    flat = [p for pair in widths[first:] for p in pair]
    value = 0.0
    if "value" in node.attrs:
        value = float(node.attrs["value"])
    elif len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        value = float(ctx.require(node, 2).reshape(()))
    ctx.set(out, ctx.mb.pad(x=x, pad=flat, mode=_PAD_MODES[mode], constant_val=value, name=ctx.name(out)))


def _depth_to_space(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    block = int(node.attrs["blocksize"])
    if str(ops.attr(node, "mode")) == "CRD":  # torch's pixel_shuffle order
        ctx.set(out, ctx.mb.pixel_shuffle(x=x, upscale_factor=block, name=ctx.name(out)))
    else:
        ctx.set(out, ctx.mb.depth_to_space(x=x, block_size=block, name=ctx.name(out)))


def _space_to_depth_check(node: gs.Node, target) -> str | None:
    """Restrictions: mode DCR or CRD; a static rank-4 input for CRD."""
    mode = str(ops.attr(node, "mode"))
    if mode not in ("DCR", "CRD"):
        return f"SpaceToDepth mode {mode!r} is neither DCR nor CRD"
    shape = static_shape(node.inputs[0])
    if mode == "CRD" and (shape is None or len(shape) != 4):
        return "SpaceToDepth in CRD mode needs a static rank-4 input here"
    return None


def _space_to_depth(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    block = int(node.attrs["blocksize"])
    if str(ops.attr(node, "mode")) != "CRD":
        ctx.set(out, ctx.mb.space_to_depth(x=x, block_size=block, name=ctx.name(out)))
        return
    # MIL's space_to_depth is DCR: channel (dy * b + dx) * C + c. CRD wants c * b * b + dy * b + dx:
    # swap those two channel factors (pixel_unshuffle would do it, but only from iOS16)
    n, c, h, w = (int(d) for d in x.shape)
    dcr = ctx.mb.space_to_depth(x=x, block_size=block, name=ctx.tmp(node, "dcr"))
    split = ctx.mb.reshape(
        x=dcr, shape=[n, block * block, c, (h // block) * (w // block)], name=ctx.tmp(node, "split")
    )
    swapped = ctx.mb.transpose(x=split, perm=[0, 2, 1, 3], name=ctx.tmp(node, "swap"))
    ctx.set(
        out,
        ctx.mb.reshape(x=swapped, shape=[n, c * block * block, h // block, w // block], name=ctx.name(out)),
    )


def _cumsum_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axis; tensors of rank <= 5."""
    return constant_inputs(node, (1,), "axis") or rank_reason(node)


def _cumsum(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    # non-negative: coremltools' cumsum takes no negative axis but -1
    axis = int(ctx.require(node, 1).reshape(())) % len(x.shape)
    y = ctx.mb.cumsum(
        x=x,
        axis=axis,
        exclusive=bool(ops.attr(node, "exclusive")),
        reverse=bool(ops.attr(node, "reverse")),
        name=ctx.name(out),
    )
    ctx.set(out, y)


def _topk_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant K; tensors of rank <= 5."""
    return constant_inputs(node, (1,), "K") or rank_reason(node)


def _topk(ctx, node: gs.Node) -> None:
    x = ctx.value(node.inputs[0])
    k = int(ctx.require(node, 1).reshape(-1)[0])
    values, indices = ctx.mb.topk(
        x=x,
        k=k,
        axis=int(ops.attr(node, "axis")),
        ascending=not int(ops.attr(node, "largest")),
        name=ctx.tmp(node, "topk"),
    )
    for tensor, var in zip(node.outputs, (values, indices), strict=False):
        ctx.set(tensor, var)


_SCATTER_MODES = {"none": "update", "add": "add", "mul": "mul", "max": "max", "min": "min"}


def _scatter_nd_check(node: gs.Node, target) -> str | None:
    """Restrictions: reduction none, add, mul, max or min; tensors of rank <= 5."""
    reduction = str(ops.attr(node, "reduction"))
    if reduction not in _SCATTER_MODES:
        return f"reduction {reduction!r} has no MIL scatter_nd mode"
    if node.inputs[1].shape is None or not isinstance(node.inputs[1].shape[-1], int):
        return "ScatterND needs the indices' last dimension"
    return rank_reason(node)


def _scatter_nd(ctx, node: gs.Node) -> None:
    data, updates = ctx.value(node.inputs[0]), ctx.value(node.inputs[2])
    depth = int(node.inputs[1].shape[-1])
    indices = _non_negative(ctx, node, node.inputs[1], [int(d) for d in data.shape[:depth]])
    mode = _SCATTER_MODES[str(ops.attr(node, "reduction"))]
    y = ctx.mb.scatter_nd(
        data=data, indices=indices, updates=updates, mode=mode, name=ctx.name(node.outputs[0])
    )
    ctx.set(node.outputs[0], y)


emitters = [
    MilEmitter("Concat", _concat, _rank_check, mil_ops=("concat",)),
    MilEmitter("Split", _split, _split_check, mil_ops=("split",)),
    MilEmitter("Slice", _slice, _slice_check, mil_ops=("slice_by_index",)),
    MilEmitter("Gather", _gather, _gather_check, mil_ops=("gather", "less", "add", "select")),
    MilEmitter("GatherND", _gather_nd, _gather_nd_check, mil_ops=("gather_nd", "less", "add", "select")),
    MilEmitter(
        "GatherElements",
        _gather_elements,
        _gather_elements_check,
        mil_ops=("gather_along_axis", "less", "add", "select"),
    ),
    MilEmitter("Tile", _tile, _rank_check, mil_ops=("tile",)),
    MilEmitter("Pad", _pad, _pad_check, mil_ops=("pad",)),
    MilEmitter("DepthToSpace", _depth_to_space, mil_ops=("depth_to_space", "pixel_shuffle")),
    MilEmitter(
        "SpaceToDepth",
        _space_to_depth,
        _space_to_depth_check,
        mil_ops=("space_to_depth", "reshape", "transpose"),
    ),
    MilEmitter("CumSum", _cumsum, _cumsum_check, mil_ops=("cumsum",)),
    MilEmitter("TopK", _topk, _topk_check, mil_ops=("topk",)),
    MilEmitter("ScatterND", _scatter_nd, _scatter_nd_check, mil_ops=("scatter_nd", "less", "add", "select")),
]
