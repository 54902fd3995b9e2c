"""Lowering rules for hardtanh (ReLU6 and friends) and Clip. First form the target supports wins.

``lower::hardtanh`` lowers the kept HardTanh. ``lower::clip`` legalises a Clip with an open side
(an ML Program's clip takes finite bounds only): it runs in every pipeline, ``-O none`` included,
because it stands for what the MIL emitter used to write by itself.
"""

from __future__ import annotations

import math

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet, const_scalar
from bridgec.passes.canonicalize import _open as open_bound  # Clip-6's +-FLT_MAX reads as open

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


def maximum(op, x, lo, hi):
    return op.Max(x, op.const(lo))


def minimum(op, x, lo, hi):
    return op.Min(x, op.const(hi))


def max_min(op, x, lo, hi):
    return op.Min(op.Max(x, op.const(lo)), op.const(hi))


def finite(lo, hi):
    return ordered(lo, hi) or (
        None if math.isfinite(lo) and math.isfinite(hi) else f"bounds ({lo}, {hi}) are not both finite"
    )


def open_above(lo, hi):
    return None if math.isfinite(lo) and hi == INF else f"bounds ({lo}, {hi}) are not (a, inf)"


def open_below(lo, hi):
    return None if lo == -INF and math.isfinite(hi) else f"bounds ({lo}, {hi}) are not (-inf, b)"


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
        Rule("hardtanh_to_max", hardtanh, maximum, open_above, "hardtanh(x, a, inf) -> max(x, a)"),
        Rule("hardtanh_to_min", hardtanh, minimum, open_below, "hardtanh(x, -inf, b) -> min(x, b)"),
        Rule("hardtanh_to_max_min", hardtanh, max_min, finite, "hardtanh(x, a, b) -> min(max(x, a), b)"),
        Rule(
            "hardtanh_to_relus",
            hardtanh,
            relus,
            ordered,
            "hardtanh(x, a, b) -> relu(x - a) - relu(x - b) + a",
        ),
    )


# --- Clip with an open side (legalisation) ----------------------------------------------------------
# A Clip's bounds are optional inputs; each arity is its own pattern. A bound is open when absent or
# infinite (or +-FLT_MAX, the version converter's fill-in for an absent Clip-6 bound).


def _bound(tensor, default: float) -> float | None:
    """A constant scalar bound with an open side as +-inf; None when it is not a constant scalar."""
    if tensor is None:
        return default
    value = const_scalar(tensor)
    return None if value is None else open_bound(value)


def _open_form(op, x, lo: float, hi: float):
    if (lo, hi) == (0.0, INF):
        return op.Relu(x)
    if hi == INF:
        return op.Max(x, op.const(lo))
    if lo == -INF:
        return op.Min(x, op.const(hi))
    raise ValueError(f"clip bounds ({lo}, {hi}) have no open side")  # the checks keep this out


def _open_reason(lo: float | None, hi: float | None) -> str | None:
    if lo is None or hi is None:
        return "the bounds are not constant scalars"
    if lo > hi or lo == INF or hi == -INF:
        return f"bounds ({lo}, {hi}) are empty or make every element infinite"
    return None if lo == -INF or hi == INF else f"bounds ({lo}, {hi}) are both finite"


def clip_open(op, x):
    return op.Clip(x)


def clip_lo(op, x, lo):
    return op.Clip(x, lo)


def clip_hi(op, x, hi):
    return op.Clip(x, None, hi)


def clip_both(op, x, lo, hi):
    return op.Clip(x, lo, hi)


def identity(op, x):
    return x


def from_lo(op, x, lo):
    return _open_form(op, x, _bound(lo, -INF), INF)


def from_hi(op, x, hi):
    return _open_form(op, x, -INF, _bound(hi, INF))


def from_both(op, x, lo, hi):
    lo, hi = _bound(lo, -INF), _bound(hi, INF)
    return x if (lo, hi) == (-INF, INF) else _open_form(op, x, lo, hi)


def lo_open(x, lo):
    return _open_reason(_bound(lo, -INF), INF)


def hi_open(x, hi):
    return _open_reason(-INF, _bound(hi, INF))


def both_open(x, lo, hi):
    return _open_reason(_bound(lo, -INF), _bound(hi, INF))


@register
class LegalizeClip(RuleSet):
    """Clip with an open side, where the target's clip needs both bounds -> relu, max, min or x."""

    id = "lower::clip"
    # fmt: off
    rules = (
        Rule("clip_unbounded_to_identity", clip_open, identity, None, "clip(x) -> x", legalize=True),
        Rule("clip_to_max", clip_lo, from_lo, lo_open, "clip(x, a) -> max(x, a)   (relu(x) for a = 0)", legalize=True),
        Rule("clip_to_min", clip_hi, from_hi, hi_open, "clip(x, , b) -> min(x, b)", legalize=True),
        Rule("clip_open_to_max_min", clip_both, from_both, both_open, "clip(x, a, inf) -> max(x, a); clip(x, -inf, b) -> min(x, b); clip(x, -inf, inf) -> x", legalize=True),
    )
    # fmt: on
