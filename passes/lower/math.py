"""Lowering rules for math ops a target may lack: LogSoftmax, CumSum, Neg, Softsign (``lower::math``),
Reciprocal (``lower::reciprocal``), Mod (``lower::mod``) and IsNaN (``lower::isnan``). Each rule is a legalisation: it fires
only where the target cannot run the op as it is (a format whose table has it keeps it).
``lower::reciprocal`` runs in every pipeline, ``-O none`` included: a NeuralNetwork has no exact
reciprocal layer (unary INVERSE adds an epsilon), so its division stands for what the emitter used
to write by itself. ``lower::mod`` runs in every pipeline too: Core ML's remainders (ModBroadcastable,
MIL mod) do not document the sign they give a negative operand, so the emitters take only operands
>= 0, where C's and Python's remainders agree, and the rules bring every Mod to that form.

Every rule states an identity that holds exactly in real arithmetic (float32 rounding aside).
"""

from __future__ import annotations

import numpy as np
import onnx
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


def isnan(op, x):
    return op.IsNaN(x)


def isnan_not_equal(op, x):
    # IEEE 754: NaN is the one value unequal to itself
    return op.Not(op.Equal(x, x))


def reciprocal_div(op, x):
    return op.Div(op.const(1.0), x)


def softsign(op, x):
    return op.Softsign(x)


def softsign_div(op, x):
    return op.Div(x, op.Add(op.Abs(x), op.const(1.0)))


def mod(op, a, b, fmod):
    return op.Mod(a, b, fmod=fmod)


def _magnitude(op, x):
    value = ir.constant_value(x)  # a constant divisor's |b| is known now: no layer for it
    return op.Abs(x) if value is None else op.const(np.abs(value), value.dtype)


def _sign(op, x):
    value = ir.constant_value(x)
    return op.Sign(x) if value is None else op.const(np.sign(value), value.dtype)


def _truncated(op, a, abs_b):
    # fmod=1 on operands >= 0 is valid ONNX for floats and integers alike
    return op.Mul(_sign(op, a), op.Mod(_magnitude(op, a), abs_b, fmod=1))


def mod_truncated(op, a, b, fmod):
    return _truncated(op, a, _magnitude(op, b))


def mod_floored(op, a, b, fmod):
    abs_b = _magnitude(op, b)
    # t = fmod(a, b) + b is never 0 and has b's sign: |fmod(a, b)| < |b|
    shifted = op.Add(_truncated(op, a, abs_b), b)
    return op.Mul(_sign(op, b), op.Mod(op.Abs(shifted), abs_b, fmod=1))


def truncating(a, b, fmod):
    return None if int(fmod) == 1 else "fmod=0: the remainder takes the divisor's sign"


def _integer(tensor: gs.Tensor) -> bool:
    dtype = tensor.dtype
    if isinstance(dtype, int):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
    return dtype is not None and np.dtype(dtype).kind in "iu"


def floored_integers(a, b, fmod):
    if int(fmod) != 0:
        return "fmod=1: the remainder takes the dividend's sign"
    if not all(_integer(t) for t in (a, b)):
        # fmod(a, b) + b rounds when fmod(a, b) is tiny against b: not exact in float
        return "a floored remainder of floats (fmod=0, opset 28) has no exact form in |x| and sign"
    return None


@register
class LegalizeMod(RuleSet):
    """Mod where the target cannot take its operands' signs -> sign and a remainder of |a| and |b|."""

    id = "lower::mod"
    # fmt: off
    rules = (
        Rule("mod_truncated_to_abs", mod, mod_truncated, truncating, "fmod(a, b) -> sign(a) * (|a| mod |b|)", legalize=True),
        Rule("mod_floored_to_abs", mod, mod_floored, floored_integers, "mod(a, b) -> sign(b) * (|fmod(a, b) + b| mod |b|)   (integers)", legalize=True),
    )
    # fmt: on


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
class LegalizeIsNaN(RuleSet):
    """IsNaN, which neither Core ML format has (dynamo's attention masks a softmax with it) -> x != x."""

    id = "lower::isnan"
    # fmt: off
    rules = (
        Rule("isnan_to_not_equal", isnan, isnan_not_equal, None, "isnan(x) -> not(x == x)", legalize=True),
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
