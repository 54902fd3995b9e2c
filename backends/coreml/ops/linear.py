"""Gemm and MatMul, both as batchedMatmul (rank-N friendly, weights stored in the layer)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.ops import Emitter
from bridgec.core import ir
from bridgec.core.errors import ConversionError


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


def _rank(ctx, tensor: gs.Tensor) -> int | None:
    value = ir.constant_value(tensor)
    if value is not None:
        return value.ndim
    shape = ctx.shape(tensor)
    return None if shape is None else len(shape)


def _matmul(ctx, node: gs.Node) -> None:
    a, b = node.inputs
    out = node.outputs[0].name
    weight = ir.constant_value(b)
    if weight is not None and weight.ndim == 2 and ir.constant_value(a) is None:
        # one input and the weight in the layer: the result has the input's rank, 1-D included
        weight = np.asarray(weight, dtype=np.float32)
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
    if ranks == (1, 1):
        raise ConversionError(f"node {node.name!r} (MatMul): {_SCALAR_PRODUCT}")
    # two inputs: a 1-D operand is promoted to a matrix and its axis stays in the result (rank
    # max(2, rank a, rank b)); numpy.matmul (ONNX) drops it, so a squeeze follows
    drop = -2 if ranks[0] == 1 else -1 if ranks[1] == 1 else None
    product = out if drop is None else f"{node.name}__product"
    ctx.builder.add_batched_mat_mul(
        product if drop is not None else node.name, ctx.input_blobs(node), product
    )
    if drop is not None:
        ctx.builder.add_squeeze(node.name, product, out, axes=[drop])


_SCALAR_PRODUCT = (
    "MatMul of two 1-D tensors is a rank-0 scalar, which Core ML blobs cannot be; reshape one to 2-D"
)


def _matmul_check(node: gs.Node, target) -> str | None:
    """Restrictions: not both operands 1-D (their product is a scalar, which Core ML cannot hold)."""
    if all(t.shape is not None and len(t.shape) == 1 for t in node.inputs):
        return _SCALAR_PRODUCT
    return None


emitters = [
    Emitter("Gemm", _gemm, _gemm_check, layer="batchedMatmul"),
    Emitter("MatMul", _matmul, _matmul_check, layer="batchedMatmul, squeeze"),
]
