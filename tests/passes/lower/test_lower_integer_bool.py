"""The integer and bool legalisations the text models need: lower::trilu (Trilu -> where(mask, x, 0)),
lower::gather's bool rules (MIL's gathers take no bool: gather it as int32) and lower::cast in an ML
Program (coremltools merges cast(cast(x, int32), bool) into cast(x, bool), dropping the truncation).
Per case: the op types after the rule, numbers equal to onnxruntime on the original graph (after the
rewrite and in the emitted model through the reference executor), and where the rule must not fire."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_neuralnetwork
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.backends.coreml.targets import Target
from tests.helpers import assert_io_kept, graph_from_text, op_types, run_graph

NN, MLP = "neuralnetwork", "mlprogram"
RNG = np.random.default_rng(17)
X = (RNG.standard_normal((2, 4, 5)) * 3).astype(np.float32)
X.flat[:4] = [2.5, -2.5, -0.5, np.inf]  # truncation's edge values, and an inf a 0/1 product would spoil
MASK = RNG.random((2, 4, 5)) > 0.4
INDICES = np.array([[0, -1], [1, 3], [-2, -5]], np.int64)


def model(inputs: str, body: str, out: str) -> str:
    return f'<ir_version: 8, opset_import: ["" : 17]> g ({inputs}) => ({out}) {{\n {body}\n}}'


# name: (graph, feeds, format, pass, rule, op types after it)
CASES = {
    "triu_float": (
        model("float[2,4,5] x", "y = Trilu <upper = 1> (x)", "float[2,4,5] y"),
        {"x": X},
        NN,
        "lower::trilu",
        "trilu_to_where",
        ["Where"],
    ),
    "tril_k_bool_mlprogram": (
        model(
            "bool[2,4,5] x",
            "k = Constant <value = int64 {-1}> ()\n y = Trilu <upper = 0> (x, k)",
            "bool[2,4,5] y",
        ),
        {"x": MASK},
        MLP,
        "lower::trilu",
        "trilu_k_to_where",
        ["And"],
    ),
    "triu_k_int_neuralnetwork": (
        model(
            "int32[2,4,5] x",
            "k = Constant <value = int64 {2}> ()\n y = Trilu <upper = 1> (x, k)",
            "int32[2,4,5] y",
        ),
        {"x": np.where(np.isinf(X), 7, X * 10).astype(np.int32)},
        NN,
        "lower::trilu",
        "trilu_k_to_where",
        ["Where"],
    ),
    # Hugging Face's masks: a gather of a bool tensor at run-time indices
    "gather_bool_mlprogram": (
        model("bool[2,4,5] x, int64[3,2] i", "y = Gather <axis = 2> (x, i)", "bool[2,4,3,2] y"),
        {"x": MASK, "i": INDICES},
        MLP,
        "lower::gather",
        "gather_bool_as_int32",
        ["Cast", "Cast", "Gather"],
    ),
    "gathernd_bool_mlprogram": (
        model("bool[2,4,5] x, int64[3,2] i", "y = GatherND (x, i)", "bool[3,5] y"),
        {"x": MASK, "i": np.array([[0, -1], [1, 3], [-2, -4]], np.int64)},
        MLP,
        "lower::gather",
        "gathernd_bool_as_int32",
        ["Cast", "Cast", "GatherND"],
    ),
    "gather_elements_bool_mlprogram": (
        model("bool[2,4,5] x, int64[2,4,2] i", "y = GatherElements <axis = 2> (x, i)", "bool[2,4,2] y"),
        {"x": MASK, "i": RNG.integers(-5, 5, (2, 4, 2))},
        MLP,
        "lower::gather",
        "gather_elements_bool_as_int32",
        ["Cast", "Cast", "GatherElements"],
    ),
    "cast_float_to_int_then_bool_mlprogram": (
        model(
            "float[2,4,5] x",
            "i = Cast <to = 7> (x)\n y = Cast <to = 9> (i)",
            "bool[2,4,5] y",
        ),
        {"x": np.where(np.isinf(X), 1.0, X).astype(np.float32)},
        MLP,
        "lower::cast",
        "cast_to_truncation",
        ["Abs", "Cast", "Cast", "Floor", "Mul", "Sign"],
    ),
}


def _lower(graph, fmt: str, pass_id: str):
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    return passes.Pipeline([passes.create(pass_id)]).run(graph, context=context), context


def _emit_and_run(graph, fmt: str, feeds: dict) -> dict[str, np.ndarray]:
    # what an app feeds a Core ML model: int32 for the int64 and bool inputs
    feeds = {k: v.astype(np.int32) if v.dtype in (np.int64, np.bool_) else v for k, v in feeds.items()}
    if fmt == NN:
        return run_neuralnetwork(build_spec(graph, "iOS15"), feeds)
    return run_mlprogram(build_mlprogram(graph, Target.parse("iOS15", format=MLP)), feeds)


@pytest.mark.parametrize("case", CASES)
def test_rule_rewrites_exactly(case):
    text, feeds, fmt, pass_id, rule, after = CASES[case]
    graph = graph_from_text(text)
    want = run_graph(graph, feeds)[0]
    original = graph.copy()
    lowered, context = _lower(graph, fmt, pass_id)
    assert op_types(lowered) == after
    assert context.rule_hits[f"{pass_id}/{rule}"] == 1
    assert_io_kept(original, lowered)
    np.testing.assert_array_equal(run_graph(lowered, feeds)[0], want)
    got = _emit_and_run(lowered, fmt, feeds)["y"]
    np.testing.assert_array_equal(got.astype(want.dtype), want)


@pytest.mark.parametrize(
    "text, fmt, pass_id",
    [
        # the ML Program gathers int32 and float as they are; a NeuralNetwork's blobs are all float
        (
            model("int32[2,4,5] x, int64[3,2] i", "y = Gather <axis = 2> (x, i)", "int32[2,4,3,2] y"),
            MLP,
            "lower::gather",
        ),
        (
            model("bool[2,4,5] x, int64[3,2] i", "y = Gather <axis = 2> (x, i)", "bool[2,4,3,2] y"),
            NN,
            "lower::gather",
        ),
        # whole numbers already: the cast is exact without the truncation
        (
            model("float[2,4,5] x", "f = Floor (x)\n y = Cast <to = 7> (f)", "int64[2,4,5] y"),
            MLP,
            "lower::cast",
        ),
    ],
)
def test_rule_does_not_fire_where_the_format_takes_the_node(text, fmt, pass_id):
    graph = graph_from_text(text)
    before = op_types(graph)
    lowered, context = _lower(graph, fmt, pass_id)
    assert op_types(lowered) == before
    assert not any(context.rule_hits.values())


def test_trilu_with_a_run_time_k_is_left_with_the_reason():
    graph = graph_from_text(
        model("float[2,4,5] x, int64[1] k", "s = Squeeze (k)\n y = Trilu (x, s)", "float[2,4,5] y")
    )
    lowered, context = _lower(graph, MLP, "lower::trilu")
    assert "Trilu" in op_types(lowered)
    assert (
        context.near_misses["lower::trilu/trilu_k_to_where"].reason
        == "the diagonal k is computed at run time"
    )
