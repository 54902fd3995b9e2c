"""Data movement: Concat, Split, Slice, Gather, Tile, Pad, DepthToSpace, SpaceToDepth, CumSum, TopK."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.backends.coreml.mil import (
    MilEmitter,
    attr_str,
    constant_inputs,
    int_list,
    known_at_build,
    operands,
    static_shape,
)
from bridgec.errors import ConversionError


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
    if sizes is None:
        return None
    if len(sizes) != len(node.outputs):
        return f"{len(sizes)} split sizes for {len(node.outputs)} outputs"
    shape = static_shape(node.inputs[0])
    if shape is not None and shape:
        dim = shape[int(node.attrs.get("axis", 0)) % len(shape)]
        if sum(sizes) != dim:
            return f"split sizes {sizes} do not add up to the axis' {dim}"
    return None


def _split(ctx, node: gs.Node) -> None:
    x = ctx.value(node.inputs[0])
    axis = int(node.attrs.get("axis", 0)) % len(x.shape)
    dim, parts = int(x.shape[axis]), len(node.outputs)
    sizes = int_list(node, 1, "split", ctx.const)
    if sizes is None:  # equal parts; opset 18's num_outputs makes the last one smaller
        chunk = -(-dim // parts)
        sizes = [min(chunk, dim - i * chunk) for i in range(parts)]
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
    # an empty result is fine while it folds (numpy has empty arrays, MIL tensors do not)
    if any(d == 0 for d in static_shape(node.outputs[0]) or ()) and not known_at_build(node.inputs[0]):
        return "an empty slice has no MIL form"
    return None


def _slice_params(ctx, node: gs.Node, shape: tuple[int, ...]):
    """Full-rank begin/end/stride and end_mask for slice_by_index, ONNX clamping applied."""
    rank = len(shape)
    starts, ends = int_list(node, 1, "starts", ctx.const), int_list(node, 2, "ends", ctx.const)
    axes = int_list(node, 3, "axes", ctx.const) or list(range(len(starts)))
    steps = int_list(node, 4, "steps", ctx.const) or [1] * len(starts)
    begin, end, stride, end_mask = [0] * rank, list(shape), [1] * rank, [False] * rank
    for s, e, a, t in zip(starts, ends, axes, steps, strict=True):
        a, dim = a % rank, shape[a % rank]
        s, e = (s + dim if s < 0 else s), (e + dim if e < 0 else e)
        if t > 0:
            begin[a], end[a] = min(max(s, 0), dim), min(max(e, 0), dim)
        else:  # ONNX clamps start to [0, dim-1], end to [-1, dim-1]; -1 means "through index 0"
            begin[a], end[a] = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            end_mask[a] = end[a] == -1
        stride[a] = t
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


def _gather(ctx, node: gs.Node) -> None:
    out = node.outputs[0]
    x = ctx.value(node.inputs[0])
    axis = int(node.attrs.get("axis", 0)) % len(x.shape)
    indices = ctx.const(node.inputs[1])
    data = ctx.const(node.inputs[0])
    if indices is not None and data is not None:  # shape arithmetic folds here
        ctx.set(out, np.take(data, indices, axis=axis))
        return
    indices = ctx.value(node.inputs[1])  # MIL gather takes negative indices as ONNX does
    ctx.set(out, ctx.mb.gather(x=x, indices=indices, axis=axis, name=ctx.name(out)))


def _tile(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    ctx.set(out, ctx.mb.tile(x=x, reps=ctx.value(node.inputs[1]), name=ctx.name(out)))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


def _pad_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant, non-negative pads and value; no axes input; constant/reflect/edge."""
    mode = attr_str(node, "mode", "constant")
    if mode not in _PAD_MODES:
        return f"pad mode {mode!r} has no MIL form"
    reason = constant_inputs(node, (1, 2), "pads/constant_value")
    if reason:
        return reason
    if len(node.inputs) > 3 and not ir.is_empty(node.inputs[3]):
        return "Pad's axes input: pad every axis instead"
    pads = int_list(node, 1, "pads")  # None here when they fold only while building
    if pads is not None and any(p < 0 for p in pads):
        return "negative pads (cropping) have no MIL form"
    return None


def _pad(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    pads = int_list(node, 1, "pads", ctx.const)
    if any(p < 0 for p in pads):
        raise ConversionError(f"node {node.name!r} (Pad): negative pads (cropping) have no MIL form")
    rank = len(pads) // 2
    pairs = [(pads[i], pads[i + rank]) for i in range(rank)]
    first = next((i for i, p in enumerate(pairs) if p != (0, 0)), rank)
    if first == rank:
        ctx.set(out, x)
        return
    # MIL pads the last N axes; leading unpadded ones are left out
    flat = [p for pair in pairs[first:] for p in pair]
    value = 0.0
    if "value" in node.attrs:
        value = float(node.attrs["value"])
    elif len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        value = float(ctx.require(node, 2).reshape(()))
    mode = _PAD_MODES[attr_str(node, "mode", "constant")]
    ctx.set(out, ctx.mb.pad(x=x, pad=flat, mode=mode, constant_val=value, name=ctx.name(out)))


def _depth_to_space(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    block = int(node.attrs["blocksize"])
    if attr_str(node, "mode", "DCR") == "CRD":  # torch's pixel_shuffle order
        ctx.set(out, ctx.mb.pixel_shuffle(x=x, upscale_factor=block, name=ctx.name(out)))
    else:
        ctx.set(out, ctx.mb.depth_to_space(x=x, block_size=block, name=ctx.name(out)))


def _space_to_depth_check(node: gs.Node, target) -> str | None:
    """Restrictions: mode DCR or CRD; a static rank-4 input for CRD."""
    mode = attr_str(node, "mode", "DCR")
    if mode not in ("DCR", "CRD"):
        return f"SpaceToDepth mode {mode!r} is neither DCR nor CRD"
    shape = static_shape(node.inputs[0])
    if mode == "CRD" and (shape is None or len(shape) != 4):
        return "SpaceToDepth in CRD mode needs a static rank-4 input here"
    return None


def _space_to_depth(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    block = int(node.attrs["blocksize"])
    if attr_str(node, "mode", "DCR") != "CRD":
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
    """Restrictions: constant axis."""
    return constant_inputs(node, (1,), "axis")


def _cumsum(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    axis = int(ctx.require(node, 1).reshape(()))
    y = ctx.mb.cumsum(
        x=x,
        axis=axis,
        exclusive=bool(node.attrs.get("exclusive", 0)),
        reverse=bool(node.attrs.get("reverse", 0)),
        name=ctx.name(out),
    )
    ctx.set(out, y)


def _topk_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant K."""
    return constant_inputs(node, (1,), "K")


def _topk(ctx, node: gs.Node) -> None:
    x = ctx.value(node.inputs[0])
    k = int(ctx.require(node, 1).reshape(-1)[0])
    values, indices = ctx.mb.topk(
        x=x,
        k=k,
        axis=int(node.attrs.get("axis", -1)),
        ascending=not int(node.attrs.get("largest", 1)),
        name=ctx.tmp(node, "topk"),
    )
    for tensor, var in zip(node.outputs, (values, indices), strict=False):
        ctx.set(tensor, var)


def _scatter_nd_check(node: gs.Node, target) -> str | None:
    """Restrictions: reduction 'none'."""
    reduction = attr_str(node, "reduction", "none")
    return None if reduction == "none" else f"reduction {reduction!r} is not MIL scatter_nd's update"


def _scatter_nd(ctx, node: gs.Node) -> None:
    data, indices, updates = (ctx.value(t) for t in node.inputs[:3])
    y = ctx.mb.scatter_nd(
        data=data, indices=indices, updates=updates, mode="update", name=ctx.name(node.outputs[0])
    )
    ctx.set(node.outputs[0], y)


emitters = [
    MilEmitter("Concat", _concat, mil_ops=("concat",)),
    MilEmitter("Split", _split, _split_check, mil_ops=("split",)),
    MilEmitter("Slice", _slice, _slice_check, mil_ops=("slice_by_index",)),
    MilEmitter("Gather", _gather, mil_ops=("gather",)),
    MilEmitter("Tile", _tile, mil_ops=("tile",)),
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
    MilEmitter("ScatterND", _scatter_nd, _scatter_nd_check, mil_ops=("scatter_nd",)),
]
