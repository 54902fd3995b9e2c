"""Gemm and MatMul, both as batchedMatmul (rank-N friendly, weights stored in the layer)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core import ir, ops
from bridgec.core.errors import ConversionError


def _gemm_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant B; transA=0; C constant and broadcast along rows ((N,) or (1, N))."""
    if ir.constant_value(node.inputs[1]) is None:
        return "Gemm's B must be constant"
    if int(ops.attr(node, "transA")):
        return "Gemm with transA=1 is not supported"
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        bias = ir.constant_value(node.inputs[2])
        if bias is None:
            return "Gemm's C must be constant"
        if bias.ndim == 2 and bias.shape[0] != 1:
            return "Gemm's C must broadcast along rows (shape (N,) or (1, N))"
    return None


def _gemm(ctx, node: gs.Node) -> None:
    weight = np.asarray(ir.constant_value(node.inputs[1]), dtype=np.float32)
    if int(ops.attr(node, "transB")):
        weight = weight.T
    weight = weight * float(ops.attr(node, "alpha"))  # (K, N)
    bias = None
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        c = np.asarray(ir.constant_value(node.inputs[2]), dtype=np.float32).reshape(-1)
        bias = np.broadcast_to(c * float(ops.attr(node, "beta")), (weight.shape[1],)).copy()
    ctx.builder.add_batched_mat_mul(
        node.name,
        [ctx.blob(node.inputs[0])],
        node.outputs[0].name,
        weight_matrix_rows=weight.shape[0],
        weight_matrix_columns=weight.shape[1],
        W=weight,
        bias=bias,
    )


def _rank(ctx, tensor: gs.Tensor) -> int | None:
    value = ir.constant_value(tensor)
    if value is not None:
        return value.ndim
    shape = ctx.shape(tensor)
    return None if shape is None else len(shape)


def _matmul(ctx, node: gs.Node) -> None:
    a, b = node.inputs
    out = node.outputs[0].name
    if _weight_in_layer(node):
        # one input and the weight in the layer: the result has the input's rank, 1-D included
        weight = np.asarray(ir.constant_value(b), dtype=np.float32)
        ctx.builder.add_batched_mat_mul(
            node.name,
            [ctx.blob(a)],
            out,
            weight_matrix_rows=weight.shape[0],
            weight_matrix_columns=weight.shape[1],
            W=weight,
        )
        return
    ranks = _rank(ctx, a), _rank(ctx, b)
    if None in ranks:
        raise ConversionError(f"node {node.name!r} (MatMul): the operands' ranks are unknown")
    if 1 in ranks:  # the IR did not know it when the check ran: the layer would keep the axis
        raise ConversionError(
            f"node {node.name!r} (MatMul): a 1-D operand of unknown rank in the IR; give the model's "
            "input shapes so lower::matmul can lift it"
        )
    ctx.builder.add_batched_mat_mul(node.name, ctx.input_blobs(node), out)


_SCALAR_PRODUCT = (
    "MatMul of two 1-D tensors is a rank-0 scalar, which Core ML blobs cannot be; reshape one to 2-D"
)


def _weight_in_layer(node: gs.Node) -> bool:
    """One input and a constant matrix held by the layer, whose result has the input's rank."""
    weight = ir.constant_value(node.inputs[1])
    return weight is not None and weight.ndim == 2 and ir.constant_value(node.inputs[0]) is None


def _matmul_check(node: gs.Node, target) -> str | None:
    """Restrictions: no 1-D operand, except one input times a constant matrix (a 1-D product of two
    inputs keeps the axis numpy drops; lower::matmul lifts it)."""
    ranks = [None if t.shape is None else len(t.shape) for t in node.inputs]
    if ranks == [1, 1]:
        return _SCALAR_PRODUCT
    if 1 in ranks and not _weight_in_layer(node):
        return "MatMul with a 1-D operand: batchedMatmul keeps the axis numpy drops (lower::matmul)"
    return None


emitters = [
    Emitter("Gemm", _gemm, _gemm_check, layer="batchedMatmul"),
    Emitter("MatMul", _matmul, _matmul_check, layer="batchedMatmul"),
]
