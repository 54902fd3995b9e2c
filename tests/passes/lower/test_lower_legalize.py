"""Legalisation rules (lower::clip, prelu, minmax, cast, matmul, gather, reciprocal): what the emitters
used to decompose by themselves, now named rules that every pipeline runs. Per case: the op types
after the rule, numbers equal to onnxruntime on the original graph (after the rewrite, and in the
emitted model), and the cases where the format takes the node as it is, so the rule must not fire."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_neuralnetwork
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.backends.coreml.targets import Target
from tests.helpers import assert_io_kept, graph_from_text, op_types, run_graph

X = (np.random.default_rng(11).standard_normal((2, 3, 4, 5)) * 4).astype(np.float32)
X.flat[:4] = [2.5, -2.5, 0.0, -0.0]  # truncation's and the clip bounds' edge values


def model(body: str, out: str = "float[2,3,4,5]", extra_inputs: str = "") -> str:
    return (
        f'<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4,5] x{extra_inputs}) => ({out} y) '
        f"{{\n {body}\n}}"
    )


NN, MLP = "neuralnetwork", "mlprogram"

# name: (graph, format, the pass, the rule, op types after it)
CASES = {
    "clip_min_only_mlprogram": (
        model("lo = Constant <value = float {-0.5}> ()\n y = Clip (x, lo)"),
        MLP,
        "lower::clip",
        "clip_to_max",
        ["Max"],
    ),
    "clip_relu_mlprogram": (
        model("lo = Constant <value = float {0.0}> ()\n y = Clip (x, lo)"),
        MLP,
        "lower::clip",
        "clip_to_max",
        ["Relu"],
    ),
    "clip_max_only_mlprogram": (
        model("hi = Constant <value = float {0.75}> ()\n y = Clip (x, , hi)"),
        MLP,
        "lower::clip",
        "clip_to_min",
        ["Min"],
    ),
    "clip_unbounded_mlprogram": (
        model("y = Clip (x)"),
        MLP,
        "lower::clip",
        "clip_unbounded_to_identity",
        ["Identity"],
    ),
    "prelu_last_axis_neuralnetwork": (
        model("s = Constant <value = float[5] {0.1, 0.2, 0.3, 0.4, 0.5}> ()\n y = PRelu (x, s)"),
        NN,
        "lower::prelu",
        "prelu_to_relu_min",
        ["Add", "Constant", "Min", "Mul", "Relu"],
    ),
    "prelu_runtime_slope_mlprogram": (
        model("y = PRelu (x, s)", extra_inputs=", float[5] s"),
        MLP,
        "lower::prelu",
        "prelu_to_relu_min",
        ["Add", "Min", "Mul", "Relu"],
    ),
    "max_of_four_neuralnetwork": (
        model("a = Neg (x)\n b = Abs (x)\n c = Exp (x)\n y = Max (x, a, b, c)"),
        NN,
        "lower::minmax",
        "max_to_pairs",
        ["Abs", "Exp", "Max", "Max", "Max", "Neg"],
    ),
    "min_of_three_mlprogram": (
        model("a = Neg (x)\n b = Sin (x)\n y = Min (x, a, b)"),
        MLP,
        "lower::minmax",
        "min_to_pairs",
        ["Min", "Min", "Neg", "Sin"],
    ),
    "cast_truncates_neuralnetwork": (
        model("y = Cast <to = 7> (x)", out="int64[2,3,4,5]"),
        NN,
        "lower::cast",
        "cast_to_truncation",
        ["Abs", "Cast", "Floor", "Mul", "Sign"],
    ),
    "matmul_vector_left_mlprogram": (
        model(
            "v = Constant <value = float[4] {1.0, -2.0, 0.5, 3.0}> ()\n y = MatMul (v, x)",
            out="float[2,3,5]",
        ),
        MLP,
        "lower::matmul",
        "matmul_vector_to_matrix",
        ["Constant", "MatMul", "Squeeze", "Unsqueeze"],
    ),
    "matmul_vector_right_neuralnetwork": (
        model("y = MatMul (x, v)", out="float[2,3,4]", extra_inputs=", float[5] v"),
        NN,
        "lower::matmul",
        "matmul_vector_to_matrix",
        ["MatMul", "Squeeze", "Unsqueeze"],
    ),
    "gather_scalar_neuralnetwork": (
        model("i = Constant <value = int64 {-1}> ()\n y = Gather <axis = 1> (x, i)", out="float[2,4,5]"),
        NN,
        "lower::gather",
        "gather_scalar_to_squeeze",
        ["Gather", "Squeeze"],
    ),
    "reciprocal_neuralnetwork": (
        model("y = Reciprocal (x)"),
        NN,
        "lower::reciprocal",
        "reciprocal_to_div",
        ["Div"],
    ),
}


def _emit_and_run(graph, fmt: str, feeds: dict) -> np.ndarray:
    if fmt == NN:
        return run_neuralnetwork(build_spec(graph, "iOS15"), feeds)["y"]
    return run_mlprogram(build_mlprogram(graph, Target.parse("iOS15", format=MLP)), feeds)["y"]


def _feeds(graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    return {
        t.name: X if t.name == "x" else rng.standard_normal(t.shape).astype(np.float32) for t in graph.inputs
    }


@pytest.mark.parametrize("case", CASES)
def test_rule_form_and_numbers(case):
    text, fmt, pass_id, rule, expected = CASES[case]
    graph = graph_from_text(text)
    feeds = _feeds(graph)
    want = run_graph(graph, feeds)[0]
    before = graph.copy()
    caps = capabilities_for("iOS15", format=fmt)
    assert caps.unsupported_reason(graph.nodes[-1])  # the emitter refuses the node as it is
    context = passes.PassContext(capabilities=caps)
    lowered = passes.Pipeline([passes.create(pass_id)]).run(graph, context=context)
    assert op_types(lowered) == expected
    assert context.rule_hits[f"{pass_id}/{rule}"] == 1
    assert_io_kept(before, lowered)
    assert not [n.name for n in lowered.nodes if caps.unsupported_reason(n)]
    np.testing.assert_array_equal(run_graph(lowered, feeds)[0], want)  # exact rewrites
    got = _emit_and_run(lowered, fmt, feeds)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


# name: (graph, format, the pass): the format takes the node as it is
NATIVE = {
    "clip_open_neuralnetwork": (
        model("lo = Constant <value = float {-0.5}> ()\n y = Clip (x, lo)"),
        NN,
        "lower::clip",
    ),
    "clip_finite_mlprogram": (
        model(
            "lo = Constant <value = float {-0.5}> ()\n hi = Constant <value = float {0.5}> ()\n y = Clip (x, lo, hi)"
        ),
        MLP,
        "lower::clip",
    ),
    "prelu_per_channel_neuralnetwork": (
        model("s = Constant <value = float[3,1,1] {0.1, 0.2, 0.3}> ()\n y = PRelu (x, s)"),
        NN,
        "lower::prelu",
    ),
    "max_of_two_mlprogram": (model("a = Neg (x)\n y = Max (x, a)"), MLP, "lower::minmax"),
    # whole numbers: MIL's cast is exact (of any float, coremltools' cast merging may drop the
    # truncation: tests/passes/lower/test_lower_integer_bool.py)
    "cast_mlprogram": (
        model("f = Floor (x)\n y = Cast <to = 7> (f)", out="int64[2,3,4,5]"),
        MLP,
        "lower::cast",
    ),
    "matmul_vector_weight_neuralnetwork": (
        model(
            "w = Constant <value = float[5,2] {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0}> ()\n"
            " y = MatMul (x, w)",
            out="float[2,3,4,2]",
        ),
        NN,
        "lower::matmul",
    ),
    "gather_scalar_mlprogram": (
        model("i = Constant <value = int64 {-1}> ()\n y = Gather <axis = 1> (x, i)", out="float[2,4,5]"),
        MLP,
        "lower::gather",
    ),
    "reciprocal_mlprogram": (model("y = Reciprocal (x)"), MLP, "lower::reciprocal"),
}


@pytest.mark.parametrize("case", NATIVE)
def test_rule_does_not_fire_where_the_format_takes_the_node(case):
    text, fmt, pass_id = NATIVE[case]
    graph = graph_from_text(text)
    before = op_types(graph)
    caps = capabilities_for("iOS15", format=fmt)
    context = passes.PassContext(capabilities=caps)
    lowered = passes.Pipeline([passes.create(pass_id)]).run(graph, context=context)
    assert op_types(lowered) == before
    assert not any(context.rule_hits.values())


def test_cast_of_an_integer_input_does_not_fire():
    graph = graph_from_text(model("i = Cast <to = 6> (x)\n y = Cast <to = 7> (i)", out="int64[2,3,4,5]"))
    context = passes.PassContext(capabilities=capabilities_for("iOS15"))
    passes.Pipeline([passes.LegalizeCast()]).run(graph, context=context)
    assert context.rule_hits["lower::cast/cast_to_truncation"] == 1  # the float -> int32 one only
    assert op_types(graph).count("Cast") == 2


def test_every_pipeline_runs_the_legalisations():
    legalize = [p for p in passes.PIPELINES["none"] if p != "check::target_legal"]
    assert set(legalize) >= {"lower::clip", "lower::prelu", "lower::minmax", "lower::cast"}
    for name, ids in passes.PIPELINES.items():
        where = [ids.index(p) for p in legalize]
        assert where == sorted(where) and all(i < ids.index("check::target_legal") for i in where), name
        if "custom::tag_custom_layers" in ids:  # a custom layer is the last resort, not a legal form
            assert max(where) < ids.index("custom::tag_custom_layers")
        if "lower::hardtanh" in ids:  # a lowering rule may have a better form; it makes legal nodes only
            assert min(where) > ids.index("lower::hardtanh")


@pytest.mark.parametrize("pipeline", ["none", "custom", "lower", "lower-custom"])
def test_a_general_prelu_converts_under_every_pipeline(pipeline):
    from tests.helpers import run_pipeline

    graph = graph_from_text(CASES["prelu_last_axis_neuralnetwork"][0])
    want = run_graph(graph, {"x": X})[0]
    _, lowered, ctx = run_pipeline(graph, pipeline, "iOS15", format="mlprogram")
    assert "prelu_to_relu_min" in {r.rule for r in ctx.rewrites}
    np.testing.assert_allclose(
        run_neuralnetwork(build_spec(lowered, "iOS15"), {"x": X})["y"], want, atol=1e-5
    )


def test_the_report_names_the_rule(tmp_path):
    from bridgec.driver.analysis import analyze

    text = (
        '<ir_version: 9, opset_import: ["" : 20]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) '
        "<float[4] s = {0.1, 0.2, 0.3, 0.4}> { m = Mish (x)\n y = PRelu (m, s) }"
    )
    path = tmp_path / "mish_prelu.onnx"
    onnx.save(onnx.parser.parse_model(text), path)
    for fmt in (MLP, NN):
        rows = {
            row.op.split("::")[-1]: row
            for row in analyze(path, pipeline="lower", target="iOS16", format=fmt).rows
        }
        assert rows["Mish"].status == "lowered", fmt
        assert rows["Mish"].how.startswith("lower::kept_activations/mish_to_softplus -> "), fmt
        assert rows["PRelu"].status == "lowered", fmt
        assert rows["PRelu"].how == "lower::prelu/prelu_to_relu_min -> Add, Min, Mul, Relu", fmt
