"""ReduceMean, Squeeze, Unsqueeze, Slice, Gather, LayerNormalization: the emitted Core ML layers,
run by the reference executor, against onnxruntime on the same ONNX node."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.neuralnetwork import build_spec
from tests.helpers import assert_matches, graph_from_text, run_graph

X = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
HEAD = '<ir_version: 8, opset_import: ["" : {opset}]> g (float[2,3,4,5] x) => (float{out} y)'

CASES = {
    "reduce_mean_keep": (13, "[2,1,1,5]", "y = ReduceMean <axes = [1, -2]> (x)"),
    "reduce_mean_drop": (13, "[2,5]", "y = ReduceMean <axes = [1, 2], keepdims = 0> (x)"),
    "reduce_mean_all": (13, "[1,1,1,1]", "y = ReduceMean (x)"),
    "reduce_mean_18": (18, "[2,3,1,1]", "a = Constant <value = int64[2] {2, 3}> ()\n y = ReduceMean (x, a)"),
    "unsqueeze_squeeze": (  # rank 4 -> 5 -> 4: Core ML tensors stop at rank 5
        13,
        "[2,3,4,5]",
        "a = Constant <value = int64[1] {-1}> ()\n u = Unsqueeze (x, a)\n y = Squeeze (u, a)",
    ),
    "unsqueeze": (13, "[2,1,3,4,5]", "a = Constant <value = int64[1] {1}> ()\n y = Unsqueeze (x, a)"),
    "slice": (
        13,
        "[2,2,2,5]",
        "s = Constant <value = int64[2] {1, 1}> ()\n e = Constant <value = int64[2] {9223372036854775807, -1}> ()\n"
        " ax = Constant <value = int64[2] {1, 2}> ()\n y = Slice (x, s, e, ax)",
    ),
    "slice_steps": (
        13,
        "[2,3,2,2]",
        "s = Constant <value = int64[2] {0, -4}> ()\n e = Constant <value = int64[2] {4, 5}> ()\n"
        " ax = Constant <value = int64[2] {2, 3}> ()\n st = Constant <value = int64[2] {2, 3}> ()\n"
        " y = Slice (x, s, e, ax, st)",
    ),
    "gather_scalar": (13, "[2,4,5]", "i = Constant <value = int64 {-1}> ()\n y = Gather <axis = 1> (x, i)"),
    "gather_indices": (
        13,
        "[2,3,2,5]",
        "i = Constant <value = int64[2] {3, 0}> ()\n y = Gather <axis = 2> (x, i)",
    ),
    "split_equal": (13, "[2,3,4,5]", "a, b = Split <axis = 2> (x)\n y = Concat <axis = 2> (b, a)"),
    "split_sizes": (
        13,
        "[2,3,4,5]",
        "s = Constant <value = int64[2] {1, 4}> ()\n a, b = Split <axis = -1> (x, s)\n y = Concat <axis = -1> (b, a)",
    ),
    "split_18_uneven": (
        18,
        "[2,3,4,5]",
        "a, b = Split <axis = 3, num_outputs = 2> (x)\n y = Concat <axis = 3> (b, a)",
    ),
    "layer_norm": (
        17,
        "[2,3,4,5]",
        "g = Constant <value = float[5] {1.0, 2.0, 0.5, -1.0, 3.0}> ()\n"
        " b = Constant <value = float[5] {0.1, 0.2, 0.3, 0.4, 0.5}> ()\n"
        " y = LayerNormalization <axis = -1, epsilon = 0.001> (x, g, b)",
    ),
    "layer_norm_two_axes": (
        17,
        "[2,3,4,5]",
        "g = Constant <value = float[1] {1.5}> ()\n y = LayerNormalization <axis = 2> (x, g)",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_emitted_layers_match_onnxruntime(case):
    opset, out, body = CASES[case]
    graph = graph_from_text(HEAD.format(opset=opset, out=out) + " {\n " + body + "\n}")
    want = run_graph(graph, {"x": X})[0]
    # -O none: the legalisations (a scalar Gather index through lower::gather), then every node legal
    legal = passes.pipeline("none").run(graph.copy(), target=capabilities_for("iOS14"))
    got = run_coreml(build_spec(legal, "iOS14"), {"x": X})["y"]
    assert got.shape == want.shape
    assert_matches(got, want, tolerance=1e-6)


@pytest.mark.parametrize(
    "body, reason",
    [
        ("y = ReduceMean (x, a)", "axes must be constant"),
        # (Gather takes run-time indices: the gather layer's second input, tests/backends/coreml/test_integer_io.py)
    ],
)
def test_runtime_arguments_are_refused(body, reason):
    text = (
        '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4,5] x, int64[1] a) => (float y) {\n '
        + body
        + "\n}"
    )
    graph = graph_from_text(text)
    assert reason in capabilities_for("iOS14").unsupported_reason(graph.nodes[0])


SLICES = {
    # starts, ends, axes, steps on x[2,3,4,5]: negative steps, through index 0, sentinels, permuted axes
    "reverse_last": ([-1], [-9223372036854775807], [3], [-1]),
    "reverse_by_two_through_zero": ([4], [-100], [-1], [-2]),
    "negative_step_partial": ([3, 2], [0, -4], [2, 1], [-2, -1]),
    "permuted_axes_steps": ([1, 0], [9223372036854775807, 4], [-1, 2], [3, 2]),
}


@pytest.mark.parametrize("case", SLICES)
def test_slices_with_negative_and_large_steps(case):
    starts, ends, axes, steps = SLICES[case]

    def const(name, values):
        return f"{name} = Constant <value = int64[{len(values)}] {{{', '.join(map(str, values))}}}> ()\n "

    body = (
        const("s", starts)
        + const("e", ends)
        + const("a", axes)
        + const("t", steps)
        + "y = Slice (x, s, e, a, t)"
    )
    text = '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4,5] x) => (float y) {\n ' + body + "\n}"
    graph = graph_from_text(text)
    want = run_graph(graph, {"x": X})[0]
    got = run_coreml(build_spec(graph.copy(), "iOS14"), {"x": X})["y"]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "body, reason",
    [
        # ONNX allows an empty slice; a Core ML blob has no empty axis
        (
            "s = Constant <value = int64[1] {3}> ()\n e = Constant <value = int64[1] {1}> ()\n y = Slice (x, s, e)",
            "empty",
        ),
        # onnxruntime reads INT64_MAX as "to the front" with a negative step; ONNX clamps it: empty
        (
            "s = Constant <value = int64[1] {1}> ()\n e = Constant <value = int64[1] {9223372036854775807}> ()\n"
            " a = Constant <value = int64[1] {0}> ()\n t = Constant <value = int64[1] {-1}> ()\n y = Slice (x, s, e, a, t)",
            "empty",
        ),
        ("s = Constant <value = int64[0] {}> ()\n y = Reshape (x, s)", "scalar"),
    ],
)
def test_shapes_core_ml_cannot_hold_are_refused(body, reason):
    text = '<ir_version: 8, opset_import: ["" : 18]> g (float[1,1,1,1] x) => (float y) {\n ' + body + "\n}"
    graph = graph_from_text(text)
    assert reason in capabilities_for("iOS14").unsupported_reason(graph.nodes[-1])


def test_constant_output_one_input_concat_and_one_output_split():
    # a Constant that is a graph output is a layer of that name; ConcatND needs 2 inputs and SplitND
    # 2 outputs (NeuralNetwork.proto), so one input / one output is a copy
    text = (
        '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4,5] x) => (float c, float y, float z) {\n'
        " c = Constant <value = float[2] {1.5, -2.0}> ()\n y = Concat <axis = -1> (x)\n"
        " z = Split <axis = 1, num_outputs = 1> (x)\n}"
    )
    graph = graph_from_text(text)
    spec = build_spec(graph.copy(), "iOS14")
    assert sorted(layer.WhichOneof("layer") for layer in spec.neuralNetwork.layers) == [
        "copy",
        "copy",
        "loadConstantND",
    ]
    got = run_coreml(spec, {"x": X})
    np.testing.assert_array_equal(got["c"], [1.5, -2.0])
    np.testing.assert_array_equal(got["y"], X)
    np.testing.assert_array_equal(got["z"], X)
