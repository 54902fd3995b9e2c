"""Lowering rules for activations the frontend keeps distinct. First supported form wins."""

from __future__ import annotations

import math

import onnx_graphsurgeon as gs
from bridgec.passes._infra import register
from bridgec.passes._rules import Builder, Rule, RuleSet

from bridgec import ir

HARDTANH = (ir.BRIDGEC_DOMAIN, "HardTanh")


def bounds(node: gs.Node) -> tuple[float, float]:
    return float(node.attrs.get("min_value", -math.inf)), float(node.attrs.get("max_value", math.inf))


def _relu(b: Builder, node: gs.Node) -> list[gs.Tensor]:
    return [b.op("Relu", node.inputs[0])]


def _clip(b: Builder, node: gs.Node) -> list[gs.Tensor]:
    lo, hi = bounds(node)
    x = node.inputs[0]
    if b.opset < 11:  # Clip-6 carries its bounds as attributes
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if math.isfinite(v)}
        return [b.op("Clip", x, **attrs)]
    empty = gs.Variable.empty()
    return [
        b.op(
            "Clip",
            x,
            b.const(lo) if math.isfinite(lo) else empty,
            b.const(hi) if math.isfinite(hi) else empty,
        )
    ]


def _relus(b: Builder, node: gs.Node) -> list[gs.Tensor]:
    lo, hi = bounds(node)
    x = node.inputs[0]
    if math.isfinite(lo) and math.isfinite(hi):
        # relu(x - a) - relu(x - b) + a
        low = b.op("Relu", b.op("Sub", x, b.const(lo)))
        high = b.op("Relu", b.op("Sub", x, b.const(hi)))
        return [b.op("Add", b.op("Sub", low, high), b.const(lo))]
    if math.isfinite(lo):  # relu(x - a) + a
        return [b.op("Add", b.op("Relu", b.op("Sub", x, b.const(lo))), b.const(lo))]
    if math.isfinite(hi):  # b - relu(b - x)
        return [b.op("Sub", b.const(hi), b.op("Relu", b.op("Sub", b.const(hi), x)))]
    return [x]  # both sides open: identity


def _is_relu(node: gs.Node) -> str | None:
    return None if bounds(node) == (0.0, math.inf) else "bounds are not [0, inf)"


def _ordered(node: gs.Node) -> str | None:
    lo, hi = bounds(node)
    return None if lo <= hi else f"min_value {lo} > max_value {hi}"


@register
class LowerHardTanh(RuleSet):
    """Lower hardtanh to Relu, Clip, or a ReLU-only form — the first one the target supports."""

    id = "lower::hardtanh"
    rules = (
        Rule("hardtanh_to_relu", HARDTANH, "hardtanh(x, 0, inf) -> relu(x)", _relu, _is_relu),
        Rule("hardtanh_to_clip", HARDTANH, "hardtanh(x, a, b) -> clip(x, a, b)", _clip, _ordered),
        Rule(
            "hardtanh_to_relus",
            HARDTANH,
            "hardtanh(x, a, b) -> relu(x - a) - relu(x - b) + a",
            _relus,
            _ordered,
        ),
    )
