"""Canonicalisation: bring the spellings of one operation to the one form the lowering rules match."""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.passes._infra import Pass, PassContext, PassResult, Rewrite, register

_FLT_MAX = float(np.finfo(np.float32).max)


def _open(value: float) -> float:
    """Clip-6's defaults (and the version converter's fill-ins) are +-FLT_MAX: they mean "no bound"."""
    return math.copysign(math.inf, value) if abs(value) >= _FLT_MAX else value


def clip_bounds(node: gs.Node) -> tuple[float, float] | None:
    """Constant (min, max) of a Clip in either form, open sides as +-inf; None if not constant."""
    if "min" in node.attrs or "max" in node.attrs or len(node.inputs) == 1:  # Clip-1/6: attributes
        return _open(float(node.attrs.get("min", -math.inf))), _open(float(node.attrs.get("max", math.inf)))
    found = []
    for index, default in ((1, -math.inf), (2, math.inf)):
        if index >= len(node.inputs) or ir.is_empty(node.inputs[index]):
            found.append(default)
            continue
        value = ir.constant_value(node.inputs[index])
        if value is None or value.size != 1 or not np.issubdtype(value.dtype, np.floating):
            return None
        found.append(_open(float(value.reshape(()))))
    return found[0], found[1]


def clip_bounds_or_reason(node: gs.Node) -> tuple[float, float] | str:
    """``clip_bounds``, or why a Core ML clip (layer or MIL op) cannot take them."""
    bounds = clip_bounds(node)
    if bounds is None:
        return "Clip bounds must be constant scalars"
    # Every element is then infinite, or the largest float where the other bound is absent (ONNX's
    # default bounds are +-FLT_MAX): clip_bounds cannot tell an absent bound from an infinite one
    if bounds[0] == math.inf or bounds[1] == -math.inf:
        return f"Clip bounds ({bounds[0]}, {bounds[1]}) make every element infinite"
    return bounds


@register
class ClipToHardTanh(Pass):
    """Clip with constant bounds (any opset form) that lowering would change -> ai.bridgec HardTanh.

    Only Clips the hardtanh rules would rewrite are raised: those the target cannot run and
    Clip(x, 0, inf), which is a Relu. A Clip the target runs as it is stays, so running the
    pipeline again changes nothing.
    """

    id = "canonicalize::clip_to_hardtanh"
    plan_by_trial = True
    before = ("lower::hardtanh",)

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        modified = False
        for node in graph.nodes:
            if ir.op_key(node) != ("", "Clip"):
                continue
            found = clip_bounds(node)
            if found is None or (
                found != (0.0, math.inf) and ctx.capabilities.unsupported_reason(node) is None
            ):
                continue
            node.op, node.domain = "HardTanh", ir.BRIDGEC_DOMAIN
            node.attrs = {"min_value": found[0], "max_value": found[1]}
            while len(node.inputs) > 1:
                node.inputs.pop()
            ctx.record(Rewrite(self.id, "clip_to_hardtanh", (node.name,), "Clip", (ir.op_label(node),)))
            modified = True
        if modified:
            graph.cleanup(remove_unused_graph_inputs=False)
        return PassResult(graph, modified)
