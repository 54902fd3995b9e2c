"""Reductions and index selection: Reduce{Sum,Max,Min,Prod,L1,L2,SumSquare,LogSum,LogSumExp},
ArgMax/ArgMin, TopK and CumSum, with every axis and count constant at conversion time.

(ReduceMean lives in tensor.py with the other ops the model families first needed.)
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.backends.coreml.neuralnetwork_layers.tensor import _axes, _positive, _rank
from bridgec.core import ir, ops


def _reduce_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axes; known input rank."""
    if _axes(node) is None:
        return f"{node.op} axes must be constant (they are computed at run time)"
    if _rank(node.inputs[0]) is None:
        return f"{node.op} needs the input's rank"
    return None


def _reduce_nothing(ctx, node: gs.Node, x: str, out: str) -> None:
    """noop_with_empty_axes: "the reduction step behaves like a no-op (identity function), but
    composite-reduction operators will still perform the non-reduction steps" (ONNX) -- |x| for L1
    and L2, x * x for SumSquare, log x for LogSum, x itself for the rest (LogSumExp: log(exp(x)))."""
    if node.op in ("ReduceL1", "ReduceL2"):
        ctx.builder.add_unary(node.name, x, out, mode="abs")
    elif node.op == "ReduceSumSquare":
        ctx.builder.add_multiply_broadcastable(node.name, [x, x], out)
    elif node.op == "ReduceLogSum":
        ctx.builder.add_unary(node.name, x, out, mode="log")
    else:
        ctx.builder.add_activation(node.name, "LINEAR", x, out, params=[1.0, 0.0])


def _reduce(method: str):
    def emit(ctx, node: gs.Node) -> None:
        axes = _axes(node)
        keep = bool(int(ops.attr(node, "keepdims")))
        x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
        rank = _rank(node.inputs[0])
        if not axes:
            if int(ops.attr(node, "noop_with_empty_axes")):
                _reduce_nothing(ctx, node, x, out)
                return
            axes = list(range(rank))
        getattr(ctx.builder, method)(
            node.name, x, out, axes=_positive(axes, rank), keepdims=keep, reduce_all=False
        )

    return emit


_REDUCTIONS = {
    "ReduceSum": ("add_reduce_sum", "reduceSum"),
    "ReduceMax": ("add_reduce_max", "reduceMax"),
    "ReduceMin": ("add_reduce_min", "reduceMin"),
    "ReduceProd": ("add_reduce_prod", "reduceProd"),
    "ReduceL1": ("add_reduce_l1", "reduceL1"),
    "ReduceL2": ("add_reduce_l2", "reduceL2"),
    "ReduceSumSquare": ("add_reduce_sumsquare", "reduceSumSquare"),
    "ReduceLogSum": ("add_reduce_logsum", "reduceLogSum"),
    "ReduceLogSumExp": ("add_reduce_logsumexp", "reduceLogSumExp"),
}


# --- ArgMax / ArgMin ------------------------------------------------------------------------------


def _arg_check(node: gs.Node, target) -> str | None:
    """Restrictions: select_last_index 0; no scalar result from a rank-1 input."""
    if int(ops.attr(node, "select_last_index")):
        return f"{node.op} select_last_index=1: Core ML returns the first index of a tie"
    if _rank(node.inputs[0]) == 1 and not int(ops.attr(node, "keepdims")):
        return "Core ML blobs have rank >= 1: cannot reduce a rank-1 input to a scalar"
    return None


def _arg(method: str):
    def emit(ctx, node: gs.Node) -> None:
        getattr(ctx.builder, method)(
            node.name,
            ctx.blob(node.inputs[0]),
            node.outputs[0].name,
            axis=int(ops.attr(node, "axis")),
            keepdims=bool(int(ops.attr(node, "keepdims"))),
        )

    return emit


# --- TopK ---------------------------------------------------------------------------------------------


def _topk_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant K."""
    # sorted=0 leaves the order undefined (ONNX): topK's sorted order is one of them
    if ir.constant_value(node.inputs[1]) is None:
        return "TopK's K must be constant (it is computed at run time)"
    return None


def _topk(ctx, node: gs.Node) -> None:
    k = int(ir.constant_value(node.inputs[1]).reshape(-1)[0])
    ctx.builder.add_topk(
        node.name,
        [ctx.blob(node.inputs[0])],
        [t.name for t in node.outputs],
        k=k,
        axis=int(ops.attr(node, "axis")),
        use_bottom_k=not int(ops.attr(node, "largest")),
    )


# --- CumSum ---------------------------------------------------------------------------------------------


def _cumsum_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant axis."""
    axis = ir.constant_value(node.inputs[1])
    if axis is None or axis.size != 1:
        return "CumSum axis must be a constant scalar"
    return None


def _cumsum(ctx, node: gs.Node) -> None:
    ctx.builder.add_cumsum(
        node.name,
        [ctx.blob(node.inputs[0])],
        node.outputs[0].name,
        axis=int(np.asarray(ir.constant_value(node.inputs[1])).reshape(-1)[0]),
        reverse=bool(int(ops.attr(node, "reverse"))),
        exclusive=bool(int(ops.attr(node, "exclusive"))),
    )


emitters = [
    *(Emitter(op, _reduce(method), _reduce_check, layer=kind) for op, (method, kind) in _REDUCTIONS.items()),
    Emitter("ArgMax", _arg("add_argmax"), _arg_check, layer="argMax"),
    Emitter("ArgMin", _arg("add_argmin"), _arg_check, layer="argMin"),
    Emitter("TopK", _topk, _topk_check, layer="topK"),
    Emitter("CumSum", _cumsum, _cumsum_check, min_spec=5, layer="cumSum"),  # CumSumLayerParams is iOS14+
]
