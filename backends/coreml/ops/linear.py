"""Gemm and MatMul, both as batchedMatmul (rank-N friendly, weights stored in the layer)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.backends.coreml.ops import Emitter


def _gemm_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant B; transA=0; C constant and broadcast along rows ((N,) or (1, N))."""
    if ir.constant_value(node.inputs[1]) is None:
        return "Gemm's B must be constant"
    if int(node.attrs.get("transA", 0)):
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
    if int(node.attrs.get("transB", 0)):
        weight = weight.T
    weight = weight * float(node.attrs.get("alpha", 1.0))  # (K, N)
    bias = None
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        c = np.asarray(ir.constant_value(node.inputs[2]), dtype=np.float32).reshape(-1)
        bias = np.broadcast_to(c * float(node.attrs.get("beta", 1.0)), (weight.shape[1],)).copy()
    ctx.builder.add_batched_mat_mul(
        node.name,
        [ctx.blob(node.inputs[0])],
        node.outputs[0].name,
        weight_matrix_rows=weight.shape[0],
        weight_matrix_columns=weight.shape[1],
        W=weight,
        bias=bias,
    )


def _matmul(ctx, node: gs.Node) -> None:
    weight = ir.constant_value(node.inputs[1])
    if weight is not None and weight.ndim == 2 and ir.constant_value(node.inputs[0]) is None:
        weight = np.asarray(weight, dtype=np.float32)
        ctx.builder.add_batched_mat_mul(
            node.name,
            [ctx.blob(node.inputs[0])],
            node.outputs[0].name,
            weight_matrix_rows=weight.shape[0],
            weight_matrix_columns=weight.shape[1],
            W=weight,
        )
        return
    ctx.builder.add_batched_mat_mul(node.name, ctx.input_blobs(node), node.outputs[0].name)


def _matmul_check(node: gs.Node, target) -> str | None:
    """Restrictions: both operands of rank >= 2."""
    for tensor in node.inputs:
        if tensor.shape is not None and len(tensor.shape) < 2:
            return "MatMul with a rank-1 operand is not supported"
    return None


emitters = [
    Emitter("Gemm", _gemm, _gemm_check, layer="batchedMatmul"),
    Emitter("MatMul", _matmul, _matmul_check, layer="batchedMatmul"),
]
