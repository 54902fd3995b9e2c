"""Lowering rules for hardtanh (ReLU6 and friends). First form the target supports wins."""

from __future__ import annotations

import math

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet

INF = math.inf


def hardtanh(op, x, lo, hi):
    return op.HardTanh(x, min_value=lo, max_value=hi, _domain=ir.BRIDGEC_DOMAIN)


def relu(op, x, lo, hi):
    return op.Relu(x)


def clip(op, x, lo, hi):
    if op.opset < 11:  # Clip-6 carries its bounds as attributes
        return op.Clip(x, **{k: v for k, v in (("min", lo), ("max", hi)) if math.isfinite(v)})
    return op.Clip(
        x, op.const(lo) if math.isfinite(lo) else None, op.const(hi) if math.isfinite(hi) else None
    )


def relus(op, x, lo, hi):
    if math.isfinite(lo) and math.isfinite(hi):
        return op.Add(
            op.Sub(op.Relu(op.Sub(x, op.const(lo))), op.Relu(op.Sub(x, op.const(hi)))), op.const(lo)
        )
    if math.isfinite(lo):  # relu(x - a) + a
        return op.Add(op.Relu(op.Sub(x, op.const(lo))), op.const(lo))
    if math.isfinite(hi):  # b - relu(b - x)
        return op.Sub(op.const(hi), op.Relu(op.Sub(op.const(hi), x)))
    return x  # both sides open: identity


def is_relu(lo, hi):
    return None if (lo, hi) == (0.0, INF) else f"bounds ({lo}, {hi}) are not (0, inf)"


def ordered(lo, hi):
    if lo > hi:
        return f"min_value {lo} > max_value {hi}"
    # an infinite bound on the wrong side is not an open one: hardtanh(x, inf, inf) is inf everywhere,
    # while both forms here would read it as "no bound" and compute the identity
    if lo == INF or hi == -INF:
        return f"bounds ({lo}, {hi}) make every element infinite"
    return None


@register
class LowerHardTanh(RuleSet):
    """Lower hardtanh to Relu, Clip, or a ReLU-only form — the first one the target supports."""

    id = "lower::hardtanh"
    after = ("canonicalize::clip_to_hardtanh",)
    rules = (
        Rule("hardtanh_to_relu", hardtanh, relu, is_relu, "hardtanh(x, 0, inf) -> relu(x)"),
        Rule("hardtanh_to_clip", hardtanh, clip, ordered, "hardtanh(x, a, b) -> clip(x, a, b)"),
        Rule(
            "hardtanh_to_relus",
            hardtanh,
            relus,
            ordered,
            "hardtanh(x, a, b) -> relu(x - a) - relu(x - b) + a",
        ),
    )
