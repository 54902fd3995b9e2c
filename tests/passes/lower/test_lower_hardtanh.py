"""Hardtanh lowering rules: graph in, expected ops out, numbers equal to numpy — and where they must not fire."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.core import ir
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph


def hardtanh_graph(lo: float, hi: float, opset: int = 17):
    # ONNX text syntax has no inf literal: open bounds are set on the node afterwards.
    text = (
        f'<ir_version: 8, opset_import: ["" : {opset}, "ai.bridgec" : 1]> '
        "g (float[2,3,4] x) => (float[2,3,4] y) "
        "{ y = ai.bridgec.HardTanh <min_value = 0.0, max_value = 0.0> (x) }"
    )
    graph = graph_from_text(text)
    graph.nodes[0].attrs.update(min_value=float(lo), max_value=float(hi))
    return graph


X = (np.random.default_rng(3).standard_normal((2, 3, 4)) * 8).astype(np.float32)

CASES = [
    # (min, max, avoided ops, expected op types after lowering)
    (0.0, math.inf, (), ["Relu"]),  # hardtanh(x, 0, inf) -> relu(x)
    (0.0, 6.0, (), ["Clip"]),  # relu6
    (-2.0, 2.0, (), ["Clip"]),
    (-math.inf, 1.5, (), ["Clip"]),
    (0.0, math.inf, ("Relu",), ["Clip"]),  # relu avoided: Clip with an open max
    (0.0, 6.0, ("Clip",), ["Max", "Min"]),  # min(max(x, a), b): exact, before the relu form
    (-2.0, 2.0, ("Clip",), ["Max", "Min"]),
    (0.0, 6.0, ("Clip", "Max"), ["Add", "Relu", "Relu", "Sub", "Sub", "Sub"]),  # relu(x-a) - relu(x-b) + a
    (-2.0, 2.0, ("Clip", "Min"), ["Add", "Relu", "Relu", "Sub", "Sub", "Sub"]),
    (-1.0, math.inf, ("Clip",), ["Max"]),  # max(x, a): exact, before the relu form
    (-math.inf, 1.5, ("Clip",), ["Min"]),  # min(x, b)
    (-1.0, math.inf, ("Clip", "Max"), ["Add", "Relu", "Sub"]),  # relu(x - a) + a
    (-math.inf, 1.5, ("Clip", "Min"), ["Relu", "Sub", "Sub"]),  # b - relu(b - x)
    (-math.inf, math.inf, ("Clip",), ["Identity"]),
]


@pytest.mark.parametrize("lo, hi, avoid, expected", CASES)
def test_lowering_picks_the_first_supported_form(lo, hi, avoid, expected):
    graph = hardtanh_graph(lo, hi)
    before = graph.copy()
    lowered = passes.Pipeline([passes.LowerHardTanh()]).run(graph, target=capabilities_for("iOS14", avoid))
    assert op_types(lowered) == expected
    assert_io_kept(before, lowered)
    np.testing.assert_allclose(run_graph(lowered, {"x": X})[0], np.clip(X, lo, hi), atol=1e-6)


def test_clip_lowering_uses_attributes_before_opset_11():
    graph = hardtanh_graph(0.0, 6.0, opset=10)
    lowered = passes.Pipeline([passes.LowerHardTanh()]).run(graph, target=capabilities_for())
    (clip,) = lowered.nodes
    assert clip.attrs == {"min": 0.0, "max": 6.0} and len(clip.inputs) == 1
    assert_matches(run_graph(lowered, {"x": X})[0], np.clip(X, 0, 6), tolerance=0)


def test_rule_does_not_fire_on_reversed_bounds():
    graph = hardtanh_graph(3.0, 1.0)
    context = passes.PassContext(capabilities=capabilities_for("iOS14"))
    lowered = passes.Pipeline([passes.LowerHardTanh()]).run(graph, context=context)
    assert op_types(lowered) == ["ai.bridgec::HardTanh"]
    assert context.rewrites == []


def test_rewrites_are_recorded_with_rule_and_creator():
    graph = hardtanh_graph(0.0, 6.0)
    context = passes.PassContext(capabilities=capabilities_for("iOS14"))
    lowered = passes.Pipeline([passes.LowerHardTanh()]).run(graph, context=context)
    (rewrite,) = context.rewrites
    assert (rewrite.pass_id, rewrite.rule, rewrite.source_op) == (
        "lower::hardtanh",
        "hardtanh_to_clip",
        "ai.bridgec::HardTanh",
    )
    assert context.created_by[lowered.nodes[0].name] == "lower::hardtanh/hardtanh_to_clip"


def test_custom_tagging_keeps_parameters_and_numbers():
    graph = hardtanh_graph(-2.0, 2.0)
    tagged = passes.Pipeline([passes.TagCustomLayers()]).run(graph, target=capabilities_for())
    (node,) = tagged.nodes
    assert ir.op_key(node) == (ir.CUSTOM_DOMAIN, "HardTanh")
    assert node.attrs == {"min_value": -2.0, "max_value": 2.0}
    assert_matches(run_graph(tagged, {"x": X})[0], np.clip(X, -2, 2), tolerance=0)


def test_nothing_to_lower_leaves_the_graph_unmodified():
    graph = graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[4] x) => (float[4] y) { y = Relu (x) }'
    )
    context = passes.PassContext(capabilities=capabilities_for("iOS14"))
    result = passes.LowerHardTanh()(graph, context)
    assert result.modified is False


@pytest.mark.parametrize("bounds", [(math.inf, math.inf), (-math.inf, -math.inf)])
@pytest.mark.parametrize("avoid", [(), ("Clip",)])
def test_infinite_bounds_on_the_wrong_side_are_not_lowered(bounds, avoid):
    """hardtanh(x, inf, inf) is inf everywhere: neither Clip without bounds nor the ReLU form (both
    read an infinite bound as an open one) computes it, so no rule fires."""
    graph = hardtanh_graph(*bounds)
    lowered = passes.Pipeline([passes.LowerHardTanh()]).run(graph, target=capabilities_for("iOS14", avoid))
    assert op_types(lowered) == ["ai.bridgec::HardTanh"]
