"""Lowering rules for math ops a target may lack: LogSoftmax, CumSum, Neg, Softsign (``lower::math``)
and Reciprocal (``lower::reciprocal``). Each rule is a legalisation: it fires only where the target
cannot run the op as it is (a format whose table has it keeps it). ``lower::reciprocal`` runs in
every pipeline, ``-O none`` included: a NeuralNetwork has no exact reciprocal layer (unary INVERSE
adds an epsilon), so its division stands for what the emitter used to write by itself.

Every rule states an identity that holds exactly in real arithmetic (float32 rounding aside).
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def log_softmax(op, x, axis):
    return op.LogSoftmax(x, axis=axis)


def _reduce_log_sum_exp(op, x, axis):
    if op.opset >= 18:  # Reduce* take their axes as an input from opset 18
        return op.ReduceLogSumExp(x, op.const([axis], np.int64), keepdims=1)
    return op.ReduceLogSumExp(x, axes=[axis], keepdims=1)


def log_softmax_logsumexp(op, x, axis):
    return op.Sub(x, _reduce_log_sum_exp(op, x, axis))


def log_softmax_log(op, x, axis):
    return op.Log(op.Softmax(x, axis=axis))


def cumsum(op, x, axis, exclusive, reverse):
    return op.CumSum(x, axis, exclusive=exclusive, reverse=reverse)


def _cumsum_axis(x: gs.Tensor, axis: gs.Tensor) -> tuple[int, int, int]:
    """(axis, rank, length along it); ValueError naming what is missing."""
    value = ir.constant_value(axis)
    if value is None or value.size != 1:
        raise ValueError("the axis is computed at run time")
    if x.shape is None or not isinstance(x.shape[int(value.reshape(-1)[0])], int):
        raise ValueError("the length along the axis is unknown")
    rank = len(x.shape)
    index = int(value.reshape(-1)[0]) % rank
    return index, rank, int(x.shape[index])


def static_axis(x, axis, exclusive, reverse):
    try:
        _cumsum_axis(x, axis)
    except (ValueError, IndexError) as exc:
        return str(exc)
    return None


def cumsum_matmul(op, x, axis, exclusive, reverse):
    index, rank, n = _cumsum_axis(x, axis)
    rows, cols = np.indices((n, n))
    # y[..., j] = sum_i x[..., i] * M[i, j] with M[i, j] = 1 where x_i counts toward y_j
    takes = rows >= cols if reverse else rows <= cols
    if exclusive:
        takes &= rows != cols
    matrix = op.const(takes.astype(np.float32))
    if index == rank - 1:
        return op.MatMul(x, matrix)
    perm = list(range(rank))
    perm[index], perm[-1] = perm[-1], perm[index]  # a swap is its own inverse
    return op.Transpose(op.MatMul(op.Transpose(x, perm=perm), matrix), perm=perm)


def neg(op, x):
    return op.Neg(x)


def neg_mul(op, x):
    return op.Mul(x, op.const(-1.0))


def reciprocal(op, x):
    return op.Reciprocal(x)


def reciprocal_div(op, x):
    return op.Div(op.const(1.0), x)


def softsign(op, x):
    return op.Softsign(x)


def softsign_div(op, x):
    return op.Div(x, op.Add(op.Abs(x), op.const(1.0)))


@register
class LowerMath(RuleSet):
    """Lower LogSoftmax, CumSum, Neg and Softsign where the target lacks them."""

    id = "lower::math"
    # fmt: off
    rules = (
        Rule("log_softmax_to_logsumexp", log_softmax, log_softmax_logsumexp, None, "log_softmax(x, a) -> x - reduce_log_sum_exp(x, a)", legalize=True),
        Rule("log_softmax_to_log", log_softmax, log_softmax_log, None, "log_softmax(x, a) -> log(softmax(x, a))", legalize=True),
        Rule("neg_to_mul", neg, neg_mul, None, "neg(x) -> x * -1", legalize=True),
        Rule("softsign_to_div", softsign, softsign_div, None, "softsign(x) -> x / (1 + |x|)", legalize=True),
        Rule("cumsum_to_matmul", cumsum, cumsum_matmul, static_axis, "cumsum(x, a) -> x @ triu(1)   (along a; strict for exclusive, tril for reverse)", legalize=True),
    )
    # fmt: on


@register
class LegalizeReciprocal(RuleSet):
    """Reciprocal, where the target has no exact one -> 1 / x."""

    id = "lower::reciprocal"
    # fmt: off
    rules = (
        Rule("reciprocal_to_div", reciprocal, reciprocal_div, None, "reciprocal(x) -> 1 / x", legalize=True),
    )
    # fmt: on
