"""Legalise MatMul with a 1-D operand where the target's matmul keeps the axis numpy drops
(a NeuralNetwork's batchedMatmul promotes it to a matrix; MIL's types it wrongly against a batch).
It runs in every pipeline, ``-O none`` included: the form stands for what the emitters used to
write by themselves, so the report names it.

numpy.matmul (ONNX) lifts a 1-D left operand to a row and a 1-D right one to a column, then drops
that axis from the product: the same steps, spelled out. Data movement only: exact.
"""

from __future__ import annotations

import numpy as np

from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def _rank(tensor) -> int | None:
    return None if tensor.shape is None else len(tensor.shape)


def _axes(op, kind: str, x, axes: list[int]):
    if op.opset >= 13:  # Squeeze/Unsqueeze take their axes as an input from opset 13
        return getattr(op, kind)(x, op.const(axes, np.int64))
    return getattr(op, kind)(x, axes=axes)


def matmul(op, a, b):
    return op.MatMul(a, b)


def lifted(op, a, b):
    if _rank(a) == 1:  # [K] @ [..., K, N]: a row [1, K], then the row axis goes
        return _axes(op, "Squeeze", op.MatMul(_axes(op, "Unsqueeze", a, [0]), b), [-2])
    return _axes(op, "Squeeze", op.MatMul(a, _axes(op, "Unsqueeze", b, [-1])), [-1])


def one_vector(a, b):
    ranks = _rank(a), _rank(b)
    if ranks == (1, 1):
        return "both operands are 1-D: their product is a scalar"
    return None if 1 in ranks else f"operand ranks {ranks} are not 1-D"


@register
class LegalizeMatMul(RuleSet):
    """MatMul with one 1-D operand, where the target keeps its axis -> unsqueeze, matmul, squeeze."""

    id = "lower::matmul"
    # fmt: off
    rules = (
        Rule("matmul_vector_to_matrix", matmul, lifted, one_vector, "matmul(v, B) -> squeeze(matmul(unsqueeze(v, 0), B), -2); matmul(A, v) -> squeeze(matmul(A, unsqueeze(v, -1)), -1)", legalize=True),
    )
    # fmt: on
