"""lower::resize (passes/lower/resize.py): the op types after, numbers equal to onnxruntime on the
original node (after lowering, and in the emitted Core ML model of both formats), the cases where
it must not fire (the emitter takes the node natively) and the ones it must leave, with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.model import build as build_model
from bridgec.backends.coreml.targets import Target
from bridgec.passes.lower import resize as lower_resize
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph

RULE = "lower::resize/resize_to_matmul"


def model(body: str, x: str, y: str, opset: int = 18, inits: str = "") -> str:
    return (
        f'<ir_version: 8, opset_import: ["" : {opset}]> g (float[{x}] x) => (float[{y}] y) {inits}'
        f"{{\n {body}\n}}"
    )


def scales(*values: float) -> str:
    return f"<float[{len(values)}] s = {{{', '.join(map(str, values))}}}>"


def sizes(*values: int) -> str:
    return f"<int64[{len(values)}] z = {{{', '.join(map(str, values))}}}>"


# name: (onnx text, op types after lowering); each lowered for NeuralNetwork iOS15 and ML Program iOS15
CASES = {
    # the case: 5 px x 1.5 samples at 1/1.5 in ONNX, at 5/7 in Core ML's layers
    "bilinear_half_pixel_fractional": (
        model(
            'y = Resize <mode = "linear"> (x, , s)', "2,3,5,5", "2,3,7,7", inits=scales(1.0, 1.0, 1.5, 1.5)
        ),
        ["MatMul", "MatMul"],
    ),
    "nearest_fractional": (
        model(
            'y = Resize <mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor"> (x, , s)',
            "1,2,5,6",
            "1,2,7,9",
            inits=scales(1.0, 1.0, 1.5, 1.5),
        ),
        ["MatMul", "MatMul"],
    ),
    "nearest_exact_downsampling": (  # PyTorch's nearest-exact: half_pixel + round_prefer_ceil
        model(
            'y = Resize <mode = "nearest", nearest_mode = "round_prefer_ceil"> (x, , , z)',
            "1,2,7,9",
            "1,2,3,4",
            inits=sizes(1, 2, 3, 4),
        ),
        ["MatMul", "MatMul"],
    ),
    "bicubic": (
        model(
            'y = Resize <mode = "cubic", cubic_coeff_a = -0.75> (x, , s)',
            "1,3,4,5",
            "1,3,8,10",
            inits=scales(1.0, 1.0, 2.0, 2.0),
        ),
        ["MatMul", "MatMul"],
    ),
    "bilinear_antialias_down": (
        model(
            'y = Resize <mode = "linear", antialias = 1, exclude_outside = 1> (x, , , z)',
            "1,2,9,8",
            "1,2,4,3",
            inits=sizes(1, 2, 4, 3),
        ),
        ["MatMul", "MatMul"],
    ),
    "bicubic_antialias_down_axes": (
        model(
            'y = Resize <mode = "cubic", antialias = 1, cubic_coeff_a = -0.5, axes = [2, 3]> (x, , , z)',
            "2,1,9,8",
            "2,1,5,3",
            inits=sizes(5, 3),
        ),
        ["MatMul", "MatMul"],
    ),
    "width_only": (  # the untouched axis costs nothing
        model(
            'y = Resize <mode = "linear"> (x, , s)', "1,3,4,5", "1,3,4,12", inits=scales(1.0, 1.0, 1.0, 2.5)
        ),
        ["MatMul"],
    ),
    "height_only_cubic": (
        model('y = Resize <mode = "cubic"> (x, , s)', "1,3,5,4", "1,3,7,4", inits=scales(1.0, 1.0, 1.5, 1.0)),
        ["MatMul"],
    ),
    "channels_resized": (  # an axis other than the last two: moved last and back
        model(
            'y = Resize <mode = "linear"> (x, , s)', "1,4,3,3", "1,8,3,3", inits=scales(1.0, 2.0, 1.0, 1.0)
        ),
        ["MatMul", "Transpose", "Transpose"],
    ),
    "trilinear_rank5": (
        model(
            'y = Resize <mode = "linear", coordinate_transformation_mode = "align_corners"> (x, , s)',
            "1,2,3,4,5",
            "1,2,5,6,8",
            inits=scales(1.0, 1.0, 1.75, 1.5, 1.6),
        ),
        ["MatMul", "MatMul", "MatMul", "Transpose", "Transpose"],
    ),
    "tf_crop_and_resize_inside": (
        model(
            'y = Resize <mode = "linear", coordinate_transformation_mode = "tf_crop_and_resize", extrapolation_value = 0.0> (x, r, , z)',
            "1,2,6,6",
            "1,2,4,5",
            inits="<float[8] r = {0.0, 0.0, 0.1, 0.2, 1.0, 1.0, 0.9, 0.7}, int64[4] z = {1, 2, 4, 5}>",
        ),
        ["MatMul", "MatMul"],
    ),
    "upsample_9_nearest_fractional": (
        model(
            'y = Upsample <mode = "nearest"> (x, s)',
            "1,2,4,4",
            "1,2,6,10",
            opset=9,
            inits=scales(1.0, 1.0, 1.5, 2.5),
        ),
        ["MatMul", "MatMul"],
    ),
}

FORMATS = ("neuralnetwork", "mlprogram")


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_lowered_form_and_numbers(case, format):
    text, expected = CASES[case]
    graph = graph_from_text(text)
    x = np.random.default_rng(3).standard_normal(tuple(graph.inputs[0].shape)).astype(np.float32)
    want = run_graph(graph, {"x": x})[0]
    target = Target.parse("iOS15", format=format)
    caps = capabilities_for(target)
    assert caps.unsupported_reason(graph.nodes[-1]) is not None, "the emitter should refuse this case"
    before = graph.copy()
    context = passes.PassContext(capabilities=caps)
    lowered = passes.Pipeline([passes.cleanup(), lower_resize.LowerResize()]).run(graph, context=context)
    assert op_types(lowered) == sorted(expected)
    assert_io_kept(before, lowered)
    assert [(r.pass_id, r.rule) for r in context.rewrites] == [("lower::resize", "resize_to_matmul")]
    assert context.rule_hits[RULE] == 1
    assert_matches(run_graph(lowered, {"x": x})[0], want, tolerance=1e-6)
    got = build_model(lowered.copy(), target).run_reference({"x": x})["y"]
    assert_matches(got, want, tolerance=1e-6)


def test_matrices_are_onnx_own_1d_resize():
    """The matrix of a 1-D resize, checked against hand-derived ONNX semantics: half_pixel linear 2 -> 3
    samples (i + 0.5) * 2/3 - 0.5 = -1/6 (clamped to 0), 1/2, 7/6 (clamped to 1)."""
    graph = graph_from_text(
        model('y = Resize <mode = "linear"> (x, , , z)', "1,1,1,2", "1,1,1,3", inits=sizes(1, 1, 1, 3))
    )
    node = graph.nodes[-1]
    request = lower_resize.read(node)
    matrix = lower_resize.interpolation_matrix(node, request, 3, 18)
    assert_matches(matrix, [[1, 0], [0.5, 0.5], [0, 1]], tolerance=1e-7)


def test_does_not_fire_where_the_emitter_takes_the_node():
    # bilinear by exactly 2: Core ML's half-pixel upsample samples ONNX's coordinates
    text = model(
        'y = Resize <mode = "linear"> (x, , s)', "1,3,4,5", "1,3,8,10", inits=scales(1.0, 1.0, 2.0, 2.0)
    )
    for format in FORMATS:
        graph = graph_from_text(text)
        context = passes.PassContext(capabilities=capabilities_for(Target.parse("iOS15", format=format)))
        lowered = passes.Pipeline([passes.cleanup(), lower_resize.LowerResize()]).run(graph, context=context)
        assert op_types(lowered) == ["Resize"]
        assert context.near_misses[RULE].reason == "the target runs it as it is"


def test_fires_only_where_the_target_lacks_it():
    # half-pixel upsampling by 2 is native from iOS14 on; iOS13's NeuralNetwork lacks the layer mode
    text = model(
        'y = Resize <mode = "linear"> (x, , s)', "1,3,4,5", "1,3,8,10", inits=scales(1.0, 1.0, 2.0, 2.0)
    )
    ios13 = passes.Pipeline([passes.cleanup(), lower_resize.LowerResize()]).run(
        graph_from_text(text), target=capabilities_for("iOS13")
    )
    ios14 = passes.Pipeline([passes.cleanup(), lower_resize.LowerResize()]).run(
        graph_from_text(text), target=capabilities_for("iOS14")
    )
    assert op_types(ios13) == ["MatMul", "MatMul"] and op_types(ios14) == ["Resize"]


LEFT = {
    "dynamic_shape": (
        '<ir_version: 8, opset_import: ["" : 18]> g (float[1,3,H,W] x) => (float[1,3,?,?] y) '
        + scales(1.0, 1.0, 1.5, 1.5)
        + ' {\n y = Resize <mode = "cubic"> (x, , s)\n}',
        "not static",
    ),
    "aspect_ratio_policy": (
        model(
            'y = Resize <mode = "linear", keep_aspect_ratio_policy = "not_larger"> (x, , , z)',
            "1,3,4,6",
            "1,3,5,7",
            inits=sizes(1, 3, 5, 9),
        ),
        "keep_aspect_ratio_policy",
    ),
    "extrapolating_crop": (
        model(
            'y = Resize <mode = "linear", coordinate_transformation_mode = "tf_crop_and_resize", extrapolation_value = 10.0> (x, r, , z)',
            "1,2,6,6",
            "1,2,4,5",
            inits="<float[8] r = {0.0, 0.0, -0.2, 0.2, 1.0, 1.0, 0.9, 1.3}, int64[4] z = {1, 2, 4, 5}>",
        ),
        "extrapolates",
    ),
}


@pytest.mark.parametrize("case", LEFT)
def test_left_with_a_reason(case):
    text, reason = LEFT[case]
    graph = graph_from_text(text)
    context = passes.PassContext(capabilities=capabilities_for("iOS15"))
    lowered = lower_resize.LowerResize()(graph, context).graph
    assert op_types(lowered) == ["Resize"]
    assert reason in context.near_misses[RULE].reason


def test_matrix_limit_leaves_the_node(monkeypatch):
    monkeypatch.setattr(lower_resize, "MAX_MATRIX", 30)  # 5 -> 7 needs 35 elements
    graph = graph_from_text(
        model('y = Resize <mode = "linear"> (x, , s)', "1,3,5,5", "1,3,7,7", inits=scales(1.0, 1.0, 1.5, 1.5))
    )
    context = passes.PassContext(capabilities=capabilities_for("iOS15"))
    lowered = lower_resize.LowerResize()(graph, context).graph
    assert op_types(lowered) == ["Resize"]
    assert "limit" in context.near_misses[RULE].reason


def test_lowering_is_in_the_lowering_pipelines():
    for name in ("lower", "lower-custom"):
        assert "lower::resize" in passes.pipeline_ids(name)
    assert "lower::resize" not in passes.pipeline_ids("custom")
