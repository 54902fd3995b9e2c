"""Legalise Gather with a scalar index where the target's gather keeps the indexed axis (a
NeuralNetwork's gather takes a rank >= 1 index: blobs have no rank 0). It runs in every pipeline,
``-O none`` included: the form stands for what the NeuralNetwork emitter used to write by itself,
so the report names it.

A scalar index drops the axis: gather a one-element index, then squeeze that axis. Exact.
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def gather(op, x, indices, axis):
    return op.Gather(x, indices, axis=axis)


def gather_squeeze(op, x, indices, axis):
    one = op.const(ir.constant_value(indices).reshape(1), np.int64)
    taken = op.Gather(x, one, axis=axis)
    if op.opset >= 13:  # Squeeze takes its axes as an input from opset 13
        return op.Squeeze(taken, op.const([axis], np.int64))
    return op.Squeeze(taken, axes=[axis])


def scalar_index(x, indices, axis):
    value = ir.constant_value(indices)
    if value is None:
        return "the index is computed at run time"
    return None if value.ndim == 0 else f"the index has rank {value.ndim}, not 0"


@register
class LegalizeGather(RuleSet):
    """Gather of one scalar index, where the target keeps the axis -> squeeze(gather(x, [i]), axis)."""

    id = "lower::gather"
    # fmt: off
    rules = (
        Rule("gather_scalar_to_squeeze", gather, gather_squeeze, scalar_index, "gather(x, i, a) -> squeeze(gather(x, [i], a), a)   (i a scalar)", legalize=True),
    )
    # fmt: on
