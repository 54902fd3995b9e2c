"""Reshape, Flatten, Transpose, Concat, Pad, Slice, Split, Squeeze and Unsqueeze."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, i32, static_shape, u32
from bridgec.backends.coreai.ops.pooling import onnx_pads_to_coreai
from bridgec.core import ir


def _reshape_check(node: gs.Node, target) -> str | None:
    """Restrictions: a static output shape (ONNX's 0 and -1 are resolved from it)."""
    if static_shape(node.outputs[0]) is None:
        return f"output {node.outputs[0].name!r} has shape {node.outputs[0].shape}; needs a static shape"
    return None


def _reshape(ctx, node: gs.Node) -> None:
    shape = i32(static_shape(node.outputs[0]))
    ctx.set(node.outputs[0], ctx.call("reshape", ctx.value(node.inputs[0]), shape))


def _transpose_check(node: gs.Node, target) -> str | None:
    """Restrictions: a known rank."""
    if node.inputs[0].shape is None:
        return f"input {node.inputs[0].name!r} has an unknown rank"
    return None


def _transpose(ctx, node: gs.Node) -> None:
    rank = len(node.inputs[0].shape)
    perm = node.attrs.get("perm", list(range(rank))[::-1])
    # the permutation is 1-D ui32 (si32 is rejected)
    ctx.set(node.outputs[0], ctx.call("transpose", ctx.value(node.inputs[0]), u32(perm)))


def _concat(ctx, node: gs.Node) -> None:
    if len(node.inputs) == 1:  # coreai.concat takes at least two; a one-input Concat is its input
        ctx.set(node.outputs[0], ctx.value(node.inputs[0]))
        return
    axis = i32(int(node.attrs["axis"]))  # 0-D si32
    ctx.set(node.outputs[0], ctx.call("concat", axis, [ctx.value(t) for t in node.inputs]))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _mode(node: gs.Node) -> str:
    mode = node.attrs.get("mode", "constant")
    return mode.decode() if isinstance(mode, bytes) else str(mode)


def _pad_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant non-negative pads (opset >= 11 input), a constant pad value, no axes input,
    a known rank; mode constant, reflect, edge or wrap."""
    if _mode(node) not in _PAD_MODES:
        return f"mode {_mode(node)!r}"
    if len(node.inputs) < 2:
        return "pads as an attribute (opset < 11)"
    pads = ir.constant_value(node.inputs[1])
    if pads is None:
        return "the pads are not a constant"
    if (pads < 0).any():
        return "negative pads (lower::pad makes them a Slice)"
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]) and ir.constant_value(node.inputs[2]) is None:
        return "the pad value is not a constant"
    if len(node.inputs) > 3 and not ir.is_empty(node.inputs[3]):
        return "an axes input"
    if node.inputs[0].shape is None:
        return f"input {node.inputs[0].name!r} has an unknown rank"
    return None


def _pad(ctx, node: gs.Node) -> None:
    x = node.inputs[0]
    rank = len(x.shape)
    pads = ir.constant_value(node.inputs[1]).reshape(-1)
    # ONNX [b0, b1, ..., e0, e1, ...] over every axis -> Core AI [b0, e0, b1, e1, ...]
    padding = onnx_pads_to_coreai(pads, rank)
    value = np.zeros((), np.dtype(x.dtype))
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        value = np.asarray(ir.constant_value(node.inputs[2]), np.dtype(x.dtype)).reshape(())
    ctx.set(
        node.outputs[0], ctx.call("pad", ctx.value(x), padding, value, padding_mode=_PAD_MODES[_mode(node)])
    )


def _input_or_attr(node: gs.Node, index: int, attr: str) -> np.ndarray | None | str:
    """An opset's operand (from 13 or 18) or its older attribute, as int64; None when absent,
    "computed" when it is an input that is not a constant."""
    if len(node.inputs) > index and not ir.is_empty(node.inputs[index]):
        value = ir.constant_value(node.inputs[index])
        return "computed" if value is None else np.asarray(value, np.int64).reshape(-1)
    if attr in node.attrs:
        return np.asarray(node.attrs[attr], np.int64).reshape(-1)
    return None


def _resolved(start: int, end: int, step: int, extent: int) -> tuple[int, int, int, bool]:
    """ONNX Slice's bounds on an axis of ``extent`` as a forward slice, and whether the axis is read
    reversed first. ONNX adds the extent once to a negative bound, then clamps to [0, N] for a
    positive step, start to [0, N - 1] and end to [-1, N - 1] for a negative one. Forward bounds in
    [0, N] are inside coreai.slice's valid range, where it neither wraps nor clamps (SliceOp
    docstring). A negative step is not written as one: Apple's slice takes end -1 ("through index
    0") as N - 1, against its docstring, so the axis is reversed (ReverseOp: result[i] =
    input[N - 1 - i]) and read forward from N - 1 - start to N - 1 - end by -step."""
    start, end = start + extent if start < 0 else start, end + extent if end < 0 else end
    if step > 0:
        return min(max(start, 0), extent), min(max(end, 0), extent), step, False
    start, end = min(max(start, 0), extent - 1), min(max(end, -1), extent - 1)
    return extent - 1 - start, extent - 1 - end, -step, True


def _slice_bounds(node: gs.Node) -> tuple[list[int], list[int], list[int], list[int]] | str:
    """Core AI's per-axis start, end and (positive) stride, resolved at build time from the static
    shape, and the axes to reverse first."""
    shape = static_shape(node.inputs[0])
    if shape is None:
        return f"input {node.inputs[0].name!r} has shape {node.inputs[0].shape}; needs a static shape"
    parts = [
        _input_or_attr(node, i, name) for i, name in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps"))
    ]
    if any(isinstance(p, str) for p in parts) or parts[0] is None or parts[1] is None:
        return "the starts, ends, axes or steps are not constants"
    starts, ends, axes, steps = parts
    axes = np.arange(len(starts)) if axes is None else axes
    steps = np.ones(len(starts), np.int64) if steps is None else steps
    begin, end, stride, backwards = [0] * len(shape), list(shape), [1] * len(shape), []
    for a, b, e, s in zip(axes, starts, ends, steps, strict=True):
        if s == 0:
            return "a step of 0"
        axis = int(a) % len(shape)
        begin[axis], end[axis], stride[axis], reverse = _resolved(int(b), int(e), int(s), shape[axis])
        if reverse:
            backwards.append(axis)
    return begin, end, stride, backwards


def _slice_check(node: gs.Node, target) -> str | None:
    """Restrictions: a static input shape; constant starts, ends, axes and steps."""
    bounds = _slice_bounds(node)
    return bounds if isinstance(bounds, str) else None


def _slice(ctx, node: gs.Node) -> None:
    begin, end, stride, backwards = _slice_bounds(node)
    x = ctx.value(node.inputs[0])
    if backwards:  # dims: 1-D si16/si32 (ReverseOp)
        x = ctx.call("reverse", x, i32(backwards))
    # si32 bounds, one per axis (SliceOp: "si16 or si32 and each have length equal to the rank")
    y = ctx.call("slice_", x, i32(begin), i32(end), i32(stride))
    ctx.set(node.outputs[0], y)


def _split_check(node: gs.Node, target) -> str | None:
    """Restrictions: static output shapes (the sections are read from them)."""
    for tensor in node.outputs:
        if static_shape(tensor) is None:
            return f"output {tensor.name!r} has shape {tensor.shape}; needs a static shape"
    if node.inputs[0].shape is None:
        return f"input {node.inputs[0].name!r} has an unknown rank"
    return None


def _split(ctx, node: gs.Node) -> None:
    rank = len(node.inputs[0].shape)
    axis = int(node.attrs.get("axis", 0)) % rank
    sections = [static_shape(t)[axis] for t in node.outputs]
    x = ctx.value(node.inputs[0])
    if len(sections) == 1:  # SplitOp: a single output whose type matches the input is the input
        ctx.set(node.outputs[0], x)
        return
    # split-by-sections: a 1-D operand whose sizes sum to the axis' extent (SplitOp docstring)
    parts = ctx.call("split", x, u32(sections), i32(axis))  # sizes ui16/ui32 (si32 is rejected)
    for tensor, part in zip(node.outputs, parts, strict=True):
        ctx.set(tensor, part)


def _squeeze_axes(node: gs.Node) -> list[int] | str:
    axes = _input_or_attr(node, 1, "axes")
    if isinstance(axes, str):
        return "the axes are not a constant"
    shape = node.inputs[0].shape
    if shape is None:
        return f"input {node.inputs[0].name!r} has an unknown rank"
    if axes is None:  # every axis of extent 1: they must be known
        if static_shape(node.inputs[0]) is None:
            return f"input {node.inputs[0].name!r} has shape {shape}; squeezing every 1 needs a static shape"
        return [i for i, d in enumerate(shape) if d == 1]
    return sorted(int(a) % len(shape) for a in axes)


def _squeeze_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes, a known rank (a static shape when the axes are absent)."""
    axes = _squeeze_axes(node)
    return axes if isinstance(axes, str) else None


def _squeeze(ctx, node: gs.Node) -> None:
    axes = _squeeze_axes(node)
    x = ctx.value(node.inputs[0])
    # ShrinkDimsOp: every listed axis must be of static extent 1; axes 1-D index tensor
    ctx.set(node.outputs[0], ctx.call("shrink_dims", x, i32(axes)) if axes else x)


def _unsqueeze_axes(node: gs.Node) -> list[int] | str:
    axes = _input_or_attr(node, 1, "axes")
    if axes is None or isinstance(axes, str):
        return "the axes are not a constant"
    if node.inputs[0].shape is None:
        return f"input {node.inputs[0].name!r} has an unknown rank"
    rank = len(node.inputs[0].shape) + len(axes)
    return sorted(int(a) % rank for a in axes)


def _unsqueeze_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes, a known rank."""
    axes = _unsqueeze_axes(node)
    return axes if isinstance(axes, str) else None


def _unsqueeze(ctx, node: gs.Node) -> None:
    # ExpandDimsOp: each axis is a position in the output, as ONNX's Unsqueeze axes are
    y = ctx.call("expand_dims", ctx.value(node.inputs[0]), i32(_unsqueeze_axes(node)))
    ctx.set(node.outputs[0], y)


emitters = [
    CoreAIEmitter("Reshape", _reshape, _reshape_check, coreai_ops=("reshape",)),
    CoreAIEmitter("Flatten", _reshape, _reshape_check, coreai_ops=("reshape",)),
    CoreAIEmitter("Transpose", _transpose, _transpose_check, coreai_ops=("transpose",)),
    CoreAIEmitter("Concat", _concat, coreai_ops=("concat",)),
    CoreAIEmitter("Pad", _pad, _pad_check, coreai_ops=("pad",)),
    CoreAIEmitter("Slice", _slice, _slice_check, coreai_ops=("slice", "reverse")),
    CoreAIEmitter("Split", _split, _split_check, coreai_ops=("split",)),
    CoreAIEmitter("Squeeze", _squeeze, _squeeze_check, coreai_ops=("shrink_dims",)),
    CoreAIEmitter("Unsqueeze", _unsqueeze, _unsqueeze_check, coreai_ops=("expand_dims",)),
]
