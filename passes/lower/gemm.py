"""Legalise Gemm where the target has no Gemm (Core AI: ``batch_matmul`` has no bias, no scaling):
a MatMul of the (transposed, scaled) operands, plus the scaled C. It runs in every pipeline and
fires only where the target refuses the Gemm.

Gemm(A, B, C) = alpha * op(A) @ op(B) + beta * C. A constant B is transposed and scaled when the
graph is rewritten (constant folding of the same product; exact up to alpha's rounding); a
computed one gets a Transpose and a Mul.
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def gemm(op, a, b, alpha, beta, transA, transB):  # noqa: N803 - ONNX's attribute names
    return op.Gemm(a, b, alpha=alpha, beta=beta, transA=transA, transB=transB)


def gemm_c(op, a, b, c, alpha, beta, transA, transB):  # noqa: N803
    return op.Gemm(a, b, c, alpha=alpha, beta=beta, transA=transA, transB=transB)


def _transposed(op, x):
    y = op.Transpose(x, perm=[1, 0])
    y.shape = None if x.shape is None else list(x.shape)[::-1]
    return y


def _product(op, a, b, alpha, transA, transB):  # noqa: N803
    if int(transA):
        a = _transposed(op, a)
    weight = ir.constant_value(b)
    if weight is not None:
        weight = weight.T if int(transB) else weight
        scaled = weight * np.asarray(alpha, weight.dtype) if float(alpha) != 1.0 else weight
        return op.MatMul(a, op.const(np.ascontiguousarray(scaled), weight.dtype))
    if int(transB):
        b = _transposed(op, b)
    y = op.MatMul(a, b)
    return op.Mul(y, op.const(float(alpha))) if float(alpha) != 1.0 else y


def matmul(op, a, b, alpha, beta, transA, transB):  # noqa: N803
    return _product(op, a, b, alpha, transA, transB)


def matmul_add(op, a, b, c, alpha, beta, transA, transB):  # noqa: N803
    y = _product(op, a, b, alpha, transA, transB)
    bias = ir.constant_value(c)
    if bias is not None:
        return op.Add(y, op.const(bias * np.asarray(beta, bias.dtype), bias.dtype))
    return op.Add(y, op.Mul(c, op.const(float(beta))) if float(beta) != 1.0 else c)


@register
class LegalizeGemm(RuleSet):
    """Gemm, where the target has none -> MatMul (+ Add)."""

    id = "lower::gemm"
    # fmt: off
    rules = (
        Rule("gemm_to_matmul_add", gemm_c, matmul_add, None, "gemm(A, B, C) -> alpha * op(A) @ op(B) + beta * C", legalize=True),
        Rule("gemm_to_matmul", gemm, matmul, None, "gemm(A, B) -> alpha * op(A) @ op(B)", legalize=True),
    )
    # fmt: on
