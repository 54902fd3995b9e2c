"""lower::attention and the iOS 18 emitter: ScaledDotProductAttention decomposed where the target has
no attention op (every NeuralNetwork, ML Programs before iOS 18), one rule per mask kind, op for op
its reference function; emitted whole as MIL scaled_dot_product_attention from iOS 18 on (where the
rules must not fire). Numbers: onnxruntime on the node (its reference function) against the
rewritten graph and the emitted model run by the reference executor."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.targets import Target
from bridgec.core import ops
from tests.backends.coreml.executor.mlprogram._mlp_helpers import op_types as mil_op_types
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph
from tests.passes.lower.legalize_cases import MLP, NN, emit_and_run

RNG = np.random.default_rng(5)
FEEDS = {
    "q": RNG.standard_normal((1, 2, 4, 8)).astype(np.float32),
    "k": RNG.standard_normal((1, 2, 6, 8)).astype(np.float32),
    "v": RNG.standard_normal((1, 2, 6, 5)).astype(np.float32),
}
BOOL_MASK = RNG.random((4, 6)) > 0.4
BOOL_MASK[1:, 0], BOOL_MASK[0] = True, False  # query 0 sees no key: zeros, as torch gives
FLOAT_MASK = RNG.standard_normal((1, 1, 4, 6)).astype(np.float32)
FLOAT_MASK[..., 2, :] = -np.inf
DECOMPOSED = ["MatMul", "MatMul", "Mul", "Softmax", "Transpose"]
SAFE = ["Equal", "ReduceMax", "Where"]  # a query the mask hides every key from gets zeros

# mask kind: (mask input type, mask value, the rule, what the decomposition adds to DECOMPOSED)
CASES = {
    "none": (None, None, "attention_decomposed", []),
    "causal": (None, None, "attention_causal_decomposed", ["Where"]),
    "boolean": ("bool[4,6]", BOOL_MASK, "attention_boolean_decomposed", ["Where", *SAFE]),
    "additive": ("float[1,1,4,6]", FLOAT_MASK, "attention_additive_decomposed", ["Add", *SAFE]),
}


def text(mask: str, scale: float = 0.3) -> str:
    mask_type = CASES[mask][0]
    extra, arg = (f", {mask_type} m", ", m") if mask_type else ("", "")
    return (
        '<ir_version: 9, opset_import: ["" : 17, "ai.bridgec" : 1]>\n'
        f"g (float[1,2,4,8] q, float[1,2,6,8] k, float[1,2,6,5] v{extra}) => (float[1,2,4,5] y) {{\n"
        f' y = ai.bridgec.ScaledDotProductAttention <scale: float = {scale}, mask: string = "{mask}"> (q, k, v{arg})\n'
        "}"
    )


def feeds(mask: str) -> dict[str, np.ndarray]:
    value = CASES[mask][1]
    return FEEDS if value is None else {**FEEDS, "m": value}


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("mask", CASES)
def test_attention_the_target_lacks_is_its_reference_function(mask, fmt):
    graph = graph_from_text(text(mask))
    (want,) = run_graph(graph, feeds(mask))
    reference = ops.get("ScaledDotProductAttention").numpy(*feeds(mask).values(), scale=0.3, mask=mask)
    assert_matches(want, reference, tolerance=1e-6, what="reference function vs numpy")
    assert np.isfinite(want).all()
    caps = capabilities_for("iOS15", format=fmt)
    assert caps.unsupported_reason(graph.nodes[0])
    before = graph.copy()
    context = passes.PassContext(capabilities=caps)
    lowered = passes.pipeline("none").run(graph, context=context)
    assert context.rule_hits[f"lower::attention/{CASES[mask][2]}"] == 1
    assert op_types(lowered) == sorted(DECOMPOSED + CASES[mask][3])
    assert_io_kept(before, lowered)
    # the same ops as the reference function: the same numbers in onnxruntime
    assert_matches(run_graph(lowered, feeds(mask))[0], want, tolerance=1e-6, what="rewritten")
    assert_matches(emit_and_run(lowered, fmt, feeds(mask))["y"], want, tolerance=1e-5, what="executor")


def test_causal_needs_the_sequence_lengths():
    graph = graph_from_text(text("causal").replace("float[1,2,4,8] q", "float[1,2,L,8] q"))
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=MLP))
    passes.Pipeline([passes.create("lower::attention")]).run(graph, context=context)
    assert op_types(graph) == ["ai.bridgec::ScaledDotProductAttention"]
    assert (
        "sequence length is unknown"
        in context.near_misses["lower::attention/attention_causal_decomposed"].reason
    )


@pytest.mark.parametrize("scale", [0.3, 8**-0.5])  # 8**-0.5: torch's default, the MIL op's own
@pytest.mark.parametrize("mask", CASES)
def test_ios18_emits_mil_attention_and_the_rules_do_not_fire(mask, scale, tmp_path):
    graph = graph_from_text(text(mask, scale))
    (want,) = run_graph(graph, feeds(mask))
    caps = capabilities_for("iOS18", format=MLP)
    assert caps.unsupported_reason(graph.nodes[0]) is None
    context = passes.PassContext(capabilities=caps)
    kept = passes.pipeline("none").run(graph, context=context)
    assert op_types(kept) == ["ai.bridgec::ScaledDotProductAttention"]
    assert not any(hits for key, hits in context.rule_hits.items() if key.startswith("lower::attention"))
    model = build_mlprogram(kept, Target.parse("iOS18", format=MLP))
    path = tmp_path / "attention.mlpackage"
    model.save(str(path))
    mil = mil_op_types(path)
    assert "scaled_dot_product_attention" in mil
    assert ("mul" in mil) == (scale == 0.3)  # a scale other than 1/sqrt(E) goes onto the query first
    assert ("select" in mil) == (CASES[mask][0] is not None)  # a run-time mask may hide a query's keys
    assert_matches(run_mlprogram(path, feeds(mask))["y"], want, tolerance=1e-5)


def test_ios17_and_neuralnetwork_refuse_it_as_it_is():
    graph = graph_from_text(text("none"))
    for target, fmt in (("iOS17", MLP), ("iOS18", NN)):
        assert capabilities_for(target, format=fmt).unsupported_reason(graph.nodes[0]), (target, fmt)
