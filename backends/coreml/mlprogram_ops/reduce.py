"""ReduceX over constant axes, and ArgMax/ArgMin."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import MilEmitter, constant_inputs
from bridgec.core import ir, ops

_REDUCE = {
    "ReduceMean": "reduce_mean",
    "ReduceSum": "reduce_sum",
    "ReduceMax": "reduce_max",
    "ReduceMin": "reduce_min",
    "ReduceProd": "reduce_prod",
    "ReduceL1": "reduce_l1_norm",
    "ReduceL2": "reduce_l2_norm",
    "ReduceLogSum": "reduce_log_sum",
    "ReduceLogSumExp": "reduce_log_sum_exp",
    "ReduceSumSquare": "reduce_sum_square",
}


def _axes(ctx, node: gs.Node) -> list[int] | None:
    if "axes" in node.attrs:
        return [int(a) for a in node.attrs["axes"]]
    if len(node.inputs) > 1 and not ir.is_empty(node.inputs[1]):
        return [int(a) for a in ctx.require(node, 1).reshape(-1)]
    return None


def _reduce_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes."""
    return constant_inputs(node, (1,), "axes")


def _reduce_nothing(ctx, node: gs.Node, x, out: gs.Tensor):
    """noop_with_empty_axes: "the reduction step behaves like a no-op (identity function), but
    composite-reduction operators will still perform the non-reduction steps" (ONNX) -- |x| for L1
    and L2, x * x for SumSquare, log x for LogSum, x itself for the rest (LogSumExp: log(exp(x)))."""
    name = ctx.name(out)
    if node.op in ("ReduceL1", "ReduceL2"):
        return ctx.mb.abs(x=x, name=name)
    if node.op == "ReduceSumSquare":
        return ctx.mb.square(x=x, name=name)
    if node.op == "ReduceLogSum":
        return ctx.mb.log(x=x, epsilon=0.0, name=name)  # MIL's log adds 1e-45 unless told not to
    return ctx.mb.identity(x=x, name=name)


def _reduce(ctx, node: gs.Node) -> None:
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    axes = _axes(ctx, node)
    if not axes:
        if int(ops.attr(node, "noop_with_empty_axes")):
            ctx.set(out, _reduce_nothing(ctx, node, x, out))
            return
        axes = list(range(len(x.shape)))
    keep = bool(int(ops.attr(node, "keepdims")))
    op = getattr(ctx.mb, _REDUCE[node.op])
    ctx.set(out, op(x=x, axes=axes, keep_dims=keep, name=ctx.name(out)))


def _arg_check(node: gs.Node, target) -> str | None:
    """Restrictions: select_last_index 0."""
    return "select_last_index=1 has no MIL form" if int(ops.attr(node, "select_last_index")) else None


def _arg(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        # MIL gives int32 indices where ONNX gives int64: bridgec keeps integers in int32 throughout
        y = getattr(ctx.mb, mil_op)(
            x=ctx.value(node.inputs[0]),
            axis=int(ops.attr(node, "axis")),
            keep_dims=bool(int(ops.attr(node, "keepdims"))),
            name=ctx.name(node.outputs[0]),
        )
        ctx.set(node.outputs[0], y)

    return emit


emitters = [MilEmitter(op, _reduce, _reduce_check, mil_ops=(mil_op,)) for op, mil_op in _REDUCE.items()] + [
    MilEmitter("ArgMax", _arg("reduce_argmax"), _arg_check, mil_ops=("reduce_argmax",)),
    MilEmitter("ArgMin", _arg("reduce_argmin"), _arg_check, mil_ops=("reduce_argmin",)),
]
