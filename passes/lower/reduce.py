"""Legalise the reductions a target lacks into ReduceSum and elementwise ops: ReduceL2 (torch's
``F.normalize`` and ``torch.norm``, edgenext's cross-covariance attention) and ReduceSumSquare. It
runs in every pipeline, ``-O none`` included, and fires only where the target refuses the node
(Core AI has reduce_sum but no L2 norm).

ONNX defines both by their function bodies: ReduceSumSquare(x) = ReduceSum(x * x) and ReduceL2(x)
= Sqrt(ReduceSum(x * x)), with the same axes, keepdims and noop_with_empty_axes. Exact up to float32
rounding.
"""

from __future__ import annotations

import numpy as np

from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def reduce_l2(op, x, axes, keepdims, noop_with_empty_axes):
    return op.ReduceL2(x, axes, keepdims=keepdims, noop_with_empty_axes=noop_with_empty_axes)


def reduce_l2_listed(op, x, listed, keepdims, noop_with_empty_axes):
    return op.ReduceL2(x, axes=listed, keepdims=keepdims, noop_with_empty_axes=noop_with_empty_axes)


def reduce_sum_square(op, x, axes, keepdims, noop_with_empty_axes):
    return op.ReduceSumSquare(x, axes, keepdims=keepdims, noop_with_empty_axes=noop_with_empty_axes)


def reduce_sum_square_listed(op, x, listed, keepdims, noop_with_empty_axes):
    return op.ReduceSumSquare(x, axes=listed, keepdims=keepdims, noop_with_empty_axes=noop_with_empty_axes)


def _sum_of_squares(op, x, axes, keepdims, noop_with_empty_axes):
    """reduce_sum(x * x) over ``axes``: a tensor (the node's input from opset 18), a list (its
    attribute before) or None (every axis; none with noop_with_empty_axes)."""
    squares = op.Mul(x, x)
    squares.shape = x.shape  # the builder types new tensors like the matched node's output
    if isinstance(axes, (list, tuple)):
        if op.opset < 13:  # ReduceSum takes its axes as an input from opset 13
            return op.ReduceSum(squares, axes=[int(a) for a in axes], keepdims=int(keepdims))
        axes = op.const([int(a) for a in axes], np.int64)
    # noop_with_empty_axes: ReduceL2 has it from opset 18 (None before), ReduceSum from 13
    attrs = {"keepdims": int(keepdims), "noop_with_empty_axes": int(noop_with_empty_axes or 0)}
    return op.ReduceSum(squares, axes, **attrs) if axes is not None else op.ReduceSum(squares, **attrs)


def sum_sqrt(op, x, axes, keepdims, noop_with_empty_axes):
    return op.Sqrt(_sum_of_squares(op, x, axes, keepdims, noop_with_empty_axes))


def sum_sqrt_listed(op, x, listed, keepdims, noop_with_empty_axes):
    return op.Sqrt(_sum_of_squares(op, x, listed, keepdims, noop_with_empty_axes))


def sum_of_squares(op, x, axes, keepdims, noop_with_empty_axes):
    return _sum_of_squares(op, x, axes, keepdims, noop_with_empty_axes)


def sum_of_squares_listed(op, x, listed, keepdims, noop_with_empty_axes):
    return _sum_of_squares(op, x, listed, keepdims, noop_with_empty_axes)


@register
class LegalizeReduce(RuleSet):
    """ReduceL2 / ReduceSumSquare the target lacks -> sqrt(reduce_sum(x * x)) / reduce_sum(x * x)."""

    id = "lower::reduce"
    # fmt: off
    rules = (
        Rule("reduce_l2_to_sum_sqrt", reduce_l2, sum_sqrt, None, "reduce_l2(x, a) -> sqrt(reduce_sum(x * x, a))", legalize=True),
        Rule("reduce_l2_to_sum_sqrt", reduce_l2_listed, sum_sqrt_listed, None, "reduce_l2(x, a) -> sqrt(reduce_sum(x * x, a))", legalize=True),
        Rule("reduce_sum_square_to_sum", reduce_sum_square, sum_of_squares, None, "reduce_sum_square(x, a) -> reduce_sum(x * x, a)", legalize=True),
        Rule("reduce_sum_square_to_sum", reduce_sum_square_listed, sum_of_squares_listed, None, "reduce_sum_square(x, a) -> reduce_sum(x * x, a)", legalize=True),
    )
    # fmt: on
