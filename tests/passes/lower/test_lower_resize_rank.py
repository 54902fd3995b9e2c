"""lower::resize_rank (passes/lower/resize_rank.py): a Resize/Upsample of a rank-1 or rank-2 tensor
resized as rank 4. Per case and format: the op types after, numbers equal to onnxruntime on the
original node (after the rewrite, and in the emitted model through the reference executor); the
cases where it must not fire (with the near miss), the pipelines that run it, and an end-to-end
conversion. No torch module makes a rank-1/2 Resize (F.interpolate and nn.Upsample take 3-D to 5-D
inputs only), so the end-to-end case converts an ONNX file."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.model import build as build_model
from bridgec.backends.coreml.targets import Target
from bridgec.core import ir
from bridgec.passes import legality
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph, run_pipeline

PASS = "lower::resize_rank"
RULE = f"{PASS}/resize_as_rank4"
FORMATS = ("neuralnetwork", "mlprogram")
VIEWED = ["Resize", "Squeeze", "Unsqueeze"]


def model(body: str, x: str, y: str, opset: int = 18, inits: str = "") -> str:
    return (
        f'<ir_version: 8, opset_import: ["" : {opset}]> g (float[{x}] x) => (float[{y}] y) {inits}'
        f"{{\n {body}\n}}"
    )


def scales(*values: float) -> str:
    return f"<float[{len(values)}] s = {{{', '.join(map(str, values))}}}>"


def sizes(*values: int) -> str:
    return f"<int64[{len(values)}] z = {{{', '.join(map(str, values))}}}>"


NEAREST = 'mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor"'

# name: (onnx text, op types after); each for NeuralNetwork and ML Program (iOS15)
CASES = {
    "rank1_nearest_by_scales": (
        model(f"y = Resize <{NEAREST}> (x, , s)", "10", "30", inits=scales(3.0)),
        VIEWED,
    ),
    "rank1_linear_align_corners_by_sizes": (
        model(
            'y = Resize <mode = "linear", coordinate_transformation_mode = "align_corners"> (x, , , z)',
            "6",
            "11",
            inits=sizes(11),
        ),
        VIEWED,
    ),
    "rank2_linear_half_pixel_both_axes": (
        model('y = Resize <mode = "linear"> (x, , s)', "4,5", "8,10", inits=scales(2.0, 2.0)),
        VIEWED,
    ),
    "rank2_nearest_half_pixel_first_axis": (  # PyTorch's nearest-exact convention, H only
        model(
            'y = Resize <mode = "nearest", nearest_mode = "round_prefer_ceil"> (x, , s)',
            "3,7",
            "6,7",
            inits=scales(2.0, 1.0),
        ),
        VIEWED,
    ),
    "rank2_linear_asymmetric_last_axis_by_axes": (  # opset 18: scales for the listed axes only
        model(
            'y = Resize <mode = "linear", coordinate_transformation_mode = "asymmetric", axes = [-1]> (x, , s)',
            "3,4",
            "3,12",
            inits=scales(3.0),
        ),
        VIEWED,
    ),
    "rank2_linear_pytorch_half_pixel_opset13": (
        model(
            'y = Resize <mode = "linear", coordinate_transformation_mode = "pytorch_half_pixel"> (x, r, s)',
            "5,4",
            "10,8",
            opset=13,
            inits="<float[4] r = {0.0, 0.0, 1.0, 1.0}, float[2] s = {2.0, 2.0}>",
        ),
        VIEWED,
    ),
    "rank2_upsample_opset9": (  # Upsample-9 (x, scales); Unsqueeze/Squeeze with axes attributes
        model('y = Upsample <mode = "nearest"> (x, s)', "3,4", "6,8", opset=9, inits=scales(2.0, 2.0)),
        ["Squeeze", "Unsqueeze", "Upsample"],
    ),
}


def _input(graph) -> np.ndarray:
    return np.random.default_rng(5).standard_normal(tuple(graph.inputs[0].shape)).astype(np.float32)


def _reference(case: str, graph, x: np.ndarray) -> np.ndarray:
    """onnxruntime on the original node; its linear mode takes rank 2 and up, so the rank-1 linear
    case is ONNX's align_corners formula itself: x_original = i * (in - 1) / (out - 1), interpolated."""
    if case == "rank1_linear_align_corners_by_sizes":
        n_in, n_out = x.shape[0], graph.outputs[0].shape[0]
        return np.interp(np.arange(n_out) * (n_in - 1) / (n_out - 1), np.arange(n_in), x).astype(np.float32)
    return run_graph(graph, {"x": x})[0]


def _run(graph, fmt: str):
    caps = capabilities_for(Target.parse("iOS15", format=fmt))
    context = passes.PassContext(capabilities=caps)
    return passes.Pipeline([passes.create(PASS)]).run(graph, context=context), context, caps


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_rule_form_and_numbers(case, fmt):
    text, expected = CASES[case]
    graph = graph_from_text(text)
    x = _input(graph)
    want = _reference(case, graph, x)
    before = graph.copy()
    lowered, context, caps = _run(graph, fmt)
    assert op_types(lowered) == expected
    assert context.rule_hits[RULE] == 1
    assert_io_kept(before, lowered)
    assert not [n.name for n in lowered.nodes if caps.unsupported_reason(n)]
    assert_matches(run_graph(lowered, {"x": x})[0], want, tolerance=1e-6)
    got = build_model(lowered.copy(), Target.parse("iOS15", format=fmt)).run_reference({"x": x})["y"]
    assert_matches(got, want, tolerance=1e-6)


# name: (onnx text, the near miss's reason starts with)
NOT_FIRED = {
    # the target refuses the rank-4 resize too: lower::resize makes it MatMuls instead
    "rank2_cubic": (
        model('y = Resize <mode = "cubic"> (x, , s)', "4,5", "8,10", inits=scales(2.0, 2.0)),
        "as rank 4, the target lacks Resize too: mode 'cubic'",
    ),
    "rank2_nearest_round_prefer_floor_asymmetric": (  # picks neighbours, not replication
        model(
            'y = Resize <mode = "nearest", coordinate_transformation_mode = "asymmetric"> (x, , s)',
            "4,5",
            "8,10",
            inits=scales(2.0, 2.0),
        ),
        "as rank 4, the target lacks Resize too",
    ),
    "rank4_native": (
        model(
            'y = Resize <mode = "linear"> (x, , s)', "1,1,4,5", "1,1,8,10", inits=scales(1.0, 1.0, 2.0, 2.0)
        ),
        "the target runs it as it is",
    ),
    "rank2_scales_an_input": (
        model('y = Resize <mode = "linear"> (x, , t)', "4,5", "8,10").replace("x)", "x, float[2] t)", 1),
        "its scales/sizes/roi must be constants",
    ),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", NOT_FIRED)
def test_rule_does_not_fire(case, fmt):
    text, reason = NOT_FIRED[case]
    graph = graph_from_text(text)
    before = op_types(graph)
    consumers = len(graph.inputs[0].outputs)
    lowered, context, _ = _run(graph, fmt)
    assert op_types(lowered) == before
    assert not context.rule_hits[RULE]
    assert context.near_misses[RULE].reason.startswith(reason), context.near_misses[RULE].reason
    assert len(lowered.inputs[0].outputs) == consumers  # the forms tried are not left reading x


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("pipeline", ["none", "custom", "lower-custom"])
def test_every_pipeline_resizes_as_rank4_before_any_matmul(pipeline, fmt):
    graph = graph_from_text(CASES["rank2_linear_half_pixel_both_axes"][0])
    _, lowered, ctx = run_pipeline(graph, pipeline, "iOS15", format=fmt)
    assert {(r.pass_id, r.rule) for r in ctx.rewrites} == {(PASS, "resize_as_rank4")}
    assert "MatMul" not in op_types(lowered) and "Resize" in op_types(lowered)
    if pipeline == "lower-custom":  # lower::resize ran first and left it to the legalisation
        assert ctx.near_misses["lower::resize/resize_to_matmul"].reason.startswith("lower::resize_rank")


def test_a_rank2_resize_refused_as_rank4_too_is_still_lowered_to_matmuls():
    text = NOT_FIRED["rank2_cubic"][0]
    graph = graph_from_text(text)
    x = _input(graph)
    _, lowered, ctx = run_pipeline(graph, "lower-custom", "iOS15", format="mlprogram")
    assert op_types(lowered) == ["MatMul", "MatMul"]
    assert_matches(
        run_graph(lowered, {"x": x})[0], run_graph(graph_from_text(text), {"x": x})[0], tolerance=1e-6
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_plan_sees_the_rewrite(fmt):
    caps = capabilities_for("iOS15", format=fmt)
    graph = graph_from_text(CASES["rank2_linear_half_pixel_both_axes"][0])
    (found,) = legality.plan(graph, caps, passes.pipeline("lower-custom"))
    assert found.status == "lowered" and found.rule == RULE
    assert sorted(found.creates) == ["Resize", "Squeeze", "Unsqueeze"]
    assert {p.status for p in found.parts} == {"native"}
    (cubic,) = legality.plan(
        graph_from_text(NOT_FIRED["rank2_cubic"][0]), caps, passes.pipeline("lower-custom")
    )
    assert cubic.status == "lowered" and cubic.rule == "lower::resize/resize_to_matmul"
    assert list(cubic.creates) == ["MatMul", "MatMul"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_an_onnx_model_with_a_rank2_resize_converts(fmt, tmp_path):
    from bridgec.driver.convert import convert

    path = tmp_path / "resize2d.onnx"
    text = model(
        'h = Relu (x)\n y = Resize <mode = "linear", coordinate_transformation_mode = "align_corners"> (h, , s)',
        "6,5",
        "12,10",
        inits=scales(2.0, 2.0),
    )
    onnx.save(onnx.parser.parse_model(text), str(path))
    # the built-in numbers check (onnxruntime vs the emitted model) raises on a mismatch
    result = convert(path, write=False, format=fmt, strict=True)
    assert result.check.status == "checked"
    assert {(r.pass_id, r.rule) for r in result.context.rewrites} == {(PASS, "resize_as_rank4")}
    assert not [n for n in result.graph.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN]
