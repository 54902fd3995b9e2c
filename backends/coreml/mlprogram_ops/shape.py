"""Shape-only ops: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Constant,
ConstantOfShape, Range, Cast. Static shapes fold to constants here, so MIL sees fixed reshapes."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import (
    MilEmitter,
    constant_inputs,
    int_list,
    known_at_build,
    operands,
    static_shape,
)
from bridgec.core import ir, ops
from bridgec.passes.lower.cast import whole_valued


def _shape(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    start, end = ops.attr(node, "start"), node.attrs.get("end", None)
    shape = ctx.shape(node.inputs[0])
    if shape is not None:  # fold: the reshapes that read it stay static
        ctx.set(out, np.array(shape[start:end], dtype=np.int64))
        return
    y = ctx.mb.shape(x=x, name=ctx.tmp(node, "shape") if (start, end) != (0, None) else ctx.name(out))
    if (start, end) != (0, None):
        y = ctx.mb.slice_by_index(
            x=y, begin=[start], end=[end or 0], end_mask=[end is None], name=ctx.name(out)
        )
    ctx.set(out, y)


def _size(ctx, node: gs.Node) -> None:
    shape, out = ctx.shape(node.inputs[0]), node.outputs[0]
    if shape is not None:
        ctx.set(out, np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64))
        return
    dims = ctx.mb.shape(x=ctx.value(node.inputs[0]), name=ctx.tmp(node, "shape"))
    ctx.set(out, ctx.mb.reduce_prod(x=dims, axes=[0], keep_dims=False, name=ctx.name(out)))


MAX_RANK = 5  # ML Program tensors: coremltools refuses a program with a rank-6 tensor in it


def rank_reason(node: gs.Node, out_rank: int | None = None) -> str | None:
    """Why ``node`` cannot be in an ML Program for a tensor of rank > 5: an output (``out_rank`` is
    the result's rank where the IR does not know its shape; the build refuses such outputs even
    where they fold) or an input that is not known at build time (a constant input folds away)."""
    tensors = [t for t in node.inputs if t.name and not known_at_build(t)] + list(node.outputs)
    ranks = [(len(t.shape), t.name) for t in tensors if t.shape is not None]
    if out_rank is not None:
        ranks.append((out_rank, node.outputs[0].name))
    rank, name = max(ranks, default=(0, ""))
    if rank > MAX_RANK:
        return f"a rank-{rank} tensor ({name!r}); ML Program tensors have rank <= {MAX_RANK}"
    return None


def _rank_check(node: gs.Node, target) -> str | None:
    """Restrictions: tensors of rank <= 5."""
    return rank_reason(node)


def _reshape_check(node: gs.Node, target) -> str | None:
    """Restrictions: allowzero 0, or a constant shape without zeros (allowzero only changes what a 0
    means); a constant shape holds the input's values in rank <= 5; a shape computed at run time
    has one entry per input axis."""
    shape = ir.constant_value(node.inputs[1])
    if int(ops.attr(node, "allowzero")) and (shape is None or 0 in shape):
        # the dynamo exporter writes allowzero=1 on every Reshape: harmless unless a 0 is there
        return "allowzero=1 with a 0 (an empty axis) in the shape has no MIL form"
    if shape is None:
        entries = node.inputs[1].shape  # [K]: the result's rank
        out_rank = int(entries[0]) if entries and isinstance(entries[0], int) else None
        if known_at_build(node.inputs[1]):  # folds while building: the emitter resolves 0 and -1
            return rank_reason(node, out_rank)
        # MIL's reshape reads a 0 as ONNX does (copy that axis of x) only when the shape has one
        # entry per axis of x: iOS15 refuses it otherwise, iOS17 aligns the shape to the right
        source = node.inputs[0].shape
        if out_rank is None or source is None or out_rank != len(source):
            return "a shape computed at run time must have one entry per input axis (MIL reads a 0 in it differently)"
        return rank_reason(node)
    dims = [int(d) for d in shape.reshape(-1)]
    reason = rank_reason(node, len(dims))
    if reason:
        return reason
    if dims.count(-1) > 1:
        return f"shape {dims} has more than one -1"
    source = static_shape(node.inputs[0])
    if source is None:
        return None
    if any(d == 0 and i >= len(source) for i, d in enumerate(dims)):
        return f"shape {dims} copies (0) an axis the rank-{len(source)} input lacks"
    resolved = [source[i] if d == 0 else d for i, d in enumerate(dims)]
    total, known = int(np.prod(source)), int(np.prod([d for d in resolved if d != -1]))
    if (known != total) if -1 not in resolved else (known == 0 or total % known):
        return f"shape {dims} does not hold the input's {total} values ({list(source)})"
    return None


def _reshape(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    target = ctx.const(node.inputs[1])
    if target is None:
        ctx.set(out, ctx.mb.reshape(x=x, shape=ctx.value(node.inputs[1]), name=ctx.name(out)))
        return
    dims = [int(x.shape[i]) if int(d) == 0 else int(d) for i, d in enumerate(target.reshape(-1))]
    # an int32 array: MIL would type an empty list (a scalar's shape) as fp32
    ctx.set(out, ctx.mb.reshape(x=x, shape=np.array(dims, np.int32), name=ctx.name(out)))


def _flatten(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    shape = ctx.shape(node.inputs[0])
    axis = int(ops.attr(node, "axis"))
    axis = axis + len(shape) if axis < 0 else axis
    dims = [int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))]
    ctx.set(out, ctx.mb.reshape(x=x, shape=dims, name=ctx.name(out)))


def _axes_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes; tensors of rank <= 5."""
    reason = constant_inputs(node, (1,), "axes")
    if reason:
        return reason
    axes = int_list(node, 1, "axes") if node.op == "Unsqueeze" else None
    source = node.inputs[0].shape
    grown = len(source) + len(axes) if axes is not None and source is not None else None
    return rank_reason(node, grown)


def _squeeze(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    axes = int_list(node, 1, "axes", ctx.const)
    ctx.set(out, ctx.mb.squeeze(x=x, axes=axes, name=ctx.name(out)) if axes != [] else x)


def _unsqueeze(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    axes = int_list(node, 1, "axes", ctx.const)
    rank = len(x.shape) + len(axes)
    axes = sorted(a % rank for a in axes)  # positions in the output, as ONNX
    ctx.set(out, ctx.mb.expand_dims(x=x, axes=axes, name=ctx.name(out)))


def _transpose(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    perm = [int(p) for p in node.attrs.get("perm", reversed(range(len(x.shape))))]
    ctx.set(out, ctx.mb.transpose(x=x, perm=perm, name=ctx.name(out)))


def _expand(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    target = ctx.const(node.inputs[1])
    if target is None:  # Expand is bidirectional broadcasting: adding zeros of the target shape is it
        zeros = ctx.mb.fill(shape=ctx.value(node.inputs[1]), value=0.0, name=ctx.tmp(node, "zeros"))
        ctx.set(out, ctx.mb.add(x=x, y=zeros, name=ctx.name(out)))
        return
    shape = tuple(int(d) for d in x.shape)
    result = np.broadcast_shapes(shape, tuple(int(d) for d in target.reshape(-1)))
    if result == shape:
        ctx.set(out, x)
        return
    # MIL has no broadcast-to: lift the rank with a reshape, then tile the size-1 axes
    lifted = (1,) * (len(result) - len(shape)) + shape
    if lifted != shape:
        x = ctx.mb.reshape(x=x, shape=list(lifted), name=ctx.tmp(node, "lift"))
    reps = [r if d == 1 else 1 for d, r in zip(lifted, result, strict=True)]
    ctx.set(out, ctx.mb.tile(x=x, reps=reps, name=ctx.name(out)) if any(r != 1 for r in reps) else x)


def _expand_check(node: gs.Node, target) -> str | None:
    """Restrictions: float input when the shape is not a constant; a constant shape broadcasts with
    the input to rank <= 5."""
    shape, source = ir.constant_value(node.inputs[1]), static_shape(node.inputs[0])
    if shape is not None:
        dims = tuple(int(d) for d in shape.reshape(-1))
        reason = rank_reason(node, max(len(dims), len(node.inputs[0].shape or ())))
        if reason:
            return reason
        if source is not None:
            try:
                np.broadcast_shapes(source, dims)
            except ValueError:
                return f"the input's shape {list(source)} does not broadcast to {list(dims)}"
    dtype = node.inputs[0].dtype
    if not known_at_build(node.inputs[1]) and dtype is not None and np.dtype(dtype) != np.float32:
        return "Expand of a non-float tensor to a runtime shape"
    return rank_reason(node)


def _constant_check(node: gs.Node, target) -> str | None:
    """Restrictions: a numeric or bool value of rank <= 5 (MIL tensors hold no strings)."""
    value = ir.constant_value(node.outputs[0])
    if value is None or np.asarray(value).dtype.kind not in "biuf":
        return "Constant of strings (or a value bridgec cannot read): MIL tensors hold numbers"
    return rank_reason(node, np.asarray(value).ndim)


def _constant(ctx, node: gs.Node) -> None:
    ctx.set(node.outputs[0], ir.constant_value(node.outputs[0]))


def _fill_value(node: gs.Node) -> np.ndarray:
    value = node.attrs.get("value")
    return np.zeros(1, np.float32) if value is None else np.asarray(value.values).reshape(-1)


def _constant_of_shape(ctx, node: gs.Node) -> None:
    value, out = _fill_value(node), node.outputs[0]
    shape = ctx.const(node.inputs[0])
    if shape is not None:
        ctx.set(out, np.full(tuple(int(d) for d in shape.reshape(-1)), value[0], dtype=value.dtype))
        return
    from bridgec.backends.coreml.mlprogram import mil_array

    fill = mil_array(value)[0]
    ctx.set(out, ctx.mb.fill(shape=ctx.value(node.inputs[0]), value=fill.item(), name=ctx.name(out)))


def _constant_of_shape_check(node: gs.Node, target) -> str | None:
    """Restrictions: a result of rank <= 5."""
    entries = node.inputs[0].shape  # [K]: the result's rank
    return rank_reason(node, int(entries[0]) if entries and isinstance(entries[0], int) else None)


def _range(ctx, node: gs.Node) -> None:
    out = node.outputs[0]
    consts = [ctx.const(t) for t in node.inputs]
    if all(c is not None for c in consts):
        start, limit, delta = (c.reshape(()) for c in consts)
        # ONNX: max(ceil((limit - start) / delta), 0) elements, start + i * delta; the count in double,
        # as onnxruntime does (np.arange on float32 counts 7 in Range(0, 0.6f, 0.1f), ONNX 6)
        count = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
        values = start + np.arange(count, dtype=consts[0].dtype) * delta
        ctx.set(out, values.astype(consts[0].dtype))
        return
    start, end, step = operands(ctx, node.inputs)
    ctx.set(out, ctx.mb.range_1d(start=start, end=end, step=step, name=ctx.name(out)))


_CASTS = {
    onnx.TensorProto.FLOAT: ("fp32", np.float32),
    onnx.TensorProto.DOUBLE: ("fp32", np.float64),
    onnx.TensorProto.INT32: ("int32", np.int32),
    onnx.TensorProto.INT64: ("int32", np.int64),
    onnx.TensorProto.BOOL: ("bool", np.bool_),
}


def _cast_check(node: gs.Node, target) -> str | None:
    """Restrictions: to float, double, int32, int64 or bool (MIL computes in fp32 / int32 / bool);
    to an integer type only from whole numbers (an integer type, what floor/ceil/round/sign make, or
    a value known when building); tensors of rank <= 5."""
    to = int(node.attrs.get("to", 0))
    if to not in _CASTS:
        return f"Cast to {onnx.TensorProto.DataType.Name(to)} has no MIL dtype here"
    # coremltools' cast_optimization pass merges cast(cast(x, int32), bool) into cast(x, bool), which
    # drops the truncation (-0.5 -> 0 -> false becomes -0.5 -> true): the truncation is made explicit.
    source = node.inputs[0]
    if _CASTS[to][0] == "int32" and not whole_valued(source) and not known_at_build(source):
        return "Cast of floats to an integer type truncates, which coremltools' cast merging may drop (lower::cast)"
    return rank_reason(node)


def _cast(ctx, node: gs.Node) -> None:
    mil_dtype, np_dtype = _CASTS[int(node.attrs["to"])]
    out = node.outputs[0]
    value = ctx.const(node.inputs[0])
    if value is not None:
        ctx.set(out, np.asarray(value).astype(np_dtype))
        return
    x = ctx.value(node.inputs[0])
    from coremltools.converters.mil.mil import types

    if types.builtin_to_string(x.dtype) == mil_dtype:
        ctx.set(out, x)  # int64 <-> int32 is no change: both are int32 in MIL
        return
    ctx.set(out, ctx.mb.cast(x=x, dtype=mil_dtype, name=ctx.name(out)))


emitters = [
    MilEmitter("Shape", _shape, _rank_check, mil_ops=("shape",)),
    MilEmitter("Size", _size, _rank_check, mil_ops=("shape", "reduce_prod")),
    MilEmitter("Reshape", _reshape, _reshape_check, mil_ops=("reshape",)),
    MilEmitter("Flatten", _flatten, _rank_check, mil_ops=("reshape",)),
    MilEmitter("Squeeze", _squeeze, _axes_check, mil_ops=("squeeze",)),
    MilEmitter("Unsqueeze", _unsqueeze, _axes_check, mil_ops=("expand_dims",)),
    MilEmitter("Transpose", _transpose, _rank_check, mil_ops=("transpose",)),
    MilEmitter("Expand", _expand, _expand_check, mil_ops=("reshape", "tile", "fill", "add")),
    MilEmitter("Constant", _constant, _constant_check),
    MilEmitter("ConstantOfShape", _constant_of_shape, _constant_of_shape_check, mil_ops=("fill",)),
    MilEmitter("Range", _range, mil_ops=("range_1d",)),
    MilEmitter("Cast", _cast, _cast_check, mil_ops=("cast",)),
]
