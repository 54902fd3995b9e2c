"""Legalise PRelu whose slope the target's prelu cannot take (a run-time slope, or one that is not
one value per channel). It runs in every pipeline, ``-O none`` included: the form stands for what
the emitters used to write by themselves, so the report names it.

Every term is exact: relu(x) is x or 0, min(x, 0) is x or 0, and adding 0 changes nothing.
"""

from __future__ import annotations

from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def prelu(op, x, slope):
    return op.PRelu(x, slope)


def relu_min(op, x, slope):
    return op.Add(op.Relu(x), op.Mul(op.Min(x, op.const(0.0)), slope))


@register
class LegalizePRelu(RuleSet):
    """PRelu with a slope the target's prelu cannot take -> relu(x) + slope * min(x, 0)."""

    id = "lower::prelu"
    # fmt: off
    rules = (
        Rule("prelu_to_relu_min", prelu, relu_min, None, "prelu(x, s) -> relu(x) + s * min(x, 0)", legalize=True),
    )
    # fmt: on
