"""ReduceMean, ReduceSum, ReduceMax, ReduceMin and ReduceProd: ``coreai.reduce_*`` (which always
keep the reduced axes: the ReduceMeanOp family's docstrings), then ``shrink_dims`` for keepdims=0
(a fixed 1:1 pattern)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, float_only, i32
from bridgec.core import ir


def _axes(node: gs.Node) -> list[int] | None:
    """The reduced axes, made non-negative; None when they are not known."""
    rank = len(node.inputs[0].shape)
    if len(node.inputs) > 1 and not ir.is_empty(node.inputs[1]):  # opset 18: an input
        value = ir.constant_value(node.inputs[1])
        if value is None:
            return None
        axes = [int(a) for a in value.reshape(-1)]
    else:
        axes = [int(a) for a in node.attrs.get("axes", [])]
    if not axes:
        return list(range(rank))
    return sorted(a % rank for a in axes)


def _reduce_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32, known rank, constant axes, noop_with_empty_axes 0."""
    if node.inputs[0].shape is None:
        return f"input {node.inputs[0].name!r} has an unknown rank"
    if int(node.attrs.get("noop_with_empty_axes", 0)):
        return "noop_with_empty_axes 1"
    if _axes(node) is None:
        return "the axes are not a constant"
    return float_only(node)


def _reduce(coreai_op: str):
    def emit(ctx, node: gs.Node) -> None:
        axes = i32(_axes(node))
        y = ctx.call(coreai_op, ctx.value(node.inputs[0]), axes)
        if not int(node.attrs.get("keepdims", 1)):
            y = ctx.call("shrink_dims", y, axes)
        ctx.set(node.outputs[0], y)

    return emit


def _entry(onnx_op: str, coreai_op: str) -> CoreAIEmitter:
    return CoreAIEmitter(onnx_op, _reduce(coreai_op), _reduce_check, coreai_ops=(coreai_op, "shrink_dims"))


emitters = [
    _entry("ReduceMean", "reduce_mean"),
    _entry("ReduceSum", "reduce_sum"),
    _entry("ReduceMax", "reduce_max"),
    _entry("ReduceMin", "reduce_min"),
    _entry("ReduceProd", "reduce_product"),
]
