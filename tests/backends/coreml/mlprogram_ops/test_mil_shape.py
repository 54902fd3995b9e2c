"""Shape-only ops (Reshape, Flatten, Squeeze, Transpose, Expand, Shape, Cast, Range, ...) as MIL ops,
against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml import mlprogram_ops as mil
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, graph

CASES = {
    "reshape_zero_minus_one": (
        "s = Constant <value = int64[3] {0, -1, 5}> ()\n y = Reshape (x, s)",
        ("reshape",),
    ),
    "reshape_from_shape": (
        "s = Shape (x)\n i = Constant <value = int64[2] {0, 1}> ()\n h = Gather (s, i)\n"
        " m = Constant <value = int64[1] {-1}> ()\n t = Concat <axis = 0> (h, m)\n y = Reshape (x, t)",
        ("reshape",),
    ),
    "reshape_allowzero_without_zero": (  # what the dynamo exporter writes on every reshape
        "s = Constant <value = int64[3] {2, -1, 5}> ()\n y = Reshape <allowzero = 1> (x, s)",
        ("reshape",),
    ),
    "flatten": ("y = Flatten <axis = 2> (x)", ("reshape",)),
    "flatten_negative": ("y = Flatten <axis = -1> (x)", ("reshape",)),
    "squeeze_unsqueeze": (
        "a = Constant <value = int64[1] {-1}> ()\n u = Unsqueeze (x, a)\n r = Relu (u)\n y = Squeeze (r, a)",
        ("expand_dims", "squeeze"),
    ),
    "unsqueeze_middle": (
        "a = Constant <value = int64[2] {1, 3}> ()\n y = Unsqueeze (x, a)",
        ("expand_dims",),
    ),
    "transpose": ("y = Transpose <perm = [0, 2, 3, 1]> (x)", ("transpose",)),
    "transpose_default": ("y = Transpose (x)", ("transpose",)),
    "expand": ("s = Constant <value = int64[5] {3, 2, 3, 4, 5}> ()\n y = Expand (x, s)", ("tile",)),
    "expand_noop": (
        "s = Constant <value = int64[2] {4, 1}> ()\n e = Expand (x, s)\n y = Relu (e)",
        ("relu",),
    ),
    "cast_round_trip": ("i = Cast <to = 7> (x)\n y = Cast <to = 1> (i)", ("cast",)),
    "constant_of_shape": (
        "s = Shape (x)\n c = ConstantOfShape <value = float[1] {0.5}> (s)\n y = Add (x, c)",
        ("add",),
    ),
    "range": (
        "a = Constant <value = float {0.0}> ()\n b = Constant <value = float {5.0}> ()\n d = Constant <value = float {1.0}> ()\n"
        " r = Range (a, b, d)\n y = Mul (x, r)",
        ("mul",),
    ),
    "size": (
        "n = Size (x)\n f = Cast <to = 1> (n)\n y = Div (x, f)",
        ("mul",),
    ),  # coremltools: x / c -> x * (1 / c)
    "shape_slice": ("s = Shape <start = 1> (x)\n y = Reshape (x, s)", ("reshape",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shape_op(case):
    body, mil_ops = CASES[case]
    inputs = {
        "shape_slice": "float[1,3,4,1] x",
        "expand_noop": "float[4,5] x",
        "unsqueeze_middle": "float[3,5] x",
    }
    inputs = inputs.get(case, "float[2,3,4,5] x")
    check(graph(body, inputs=inputs, opset=17), mil_ops)


def test_dynamic_range_and_fill():
    """Range and ConstantOfShape from runtime values (not foldable): MIL range_1d and fill."""
    body = (
        "m = ReduceMax <keepdims = 0> (x)\n c = Ceil (m)\n z = Constant <value = float {0.0}> ()\n"
        " o = Constant <value = float {1.0}> ()\n r = Range (z, c, o)\n y = ReduceSum <keepdims = 0> (r)"
    )
    check(graph(body, inputs="float[6] x", opset=13), ("range_1d",))


def test_rank_six_refused():
    from bridgec.backends.coreml.mlprogram import build_mlprogram
    from bridgec.core.errors import ConversionError
    from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import target

    g = graph("a = Constant <value = int64[2] {0, 1}> ()\n y = Unsqueeze (x, a)")
    with pytest.raises(ConversionError, match="rank"):
        build_mlprogram(g, target())


def test_expand_to_shape_of_another_input():
    """The target shape comes from Shape: folded while building, so a static tile."""
    g = graph("s = Shape (z)\n y = Expand (x, s)", inputs="float[3,1,5] x, float[2,3,4,5] z")
    check(g, ("tile",))


def test_expand_to_runtime_shape():
    """A shape known only when the model runs: zeros of that shape added (MIL fill + add)."""
    body = (
        "m = ReduceMax <keepdims = 1> (x)\n c = Ceil (m)\n n = Cast <to = 7> (c)\n"
        " three = Constant <value = int64[1] {3}> ()\n s = Concat <axis = 0> (n, three)\n"
        " e = Expand (x, s)\n y = ReduceSum <keepdims = 0> (e)"
    )
    feeds = {"x": np.array([0.5, 2.5, 1.0], np.float32)}
    check(graph(body, inputs="float[3] x", opset=13), ("fill",), feeds=feeds)


@pytest.mark.parametrize(
    ("body", "inputs", "reason"),
    [
        (
            "s = Constant <value = int64[6] {1, 2, 3, 4, 5, 1}> ()\n y = Reshape (x, s)",
            "float[2,3,4,5] x",
            "rank-6",
        ),
        (
            "s = Constant <value = int64[3] {-1, -1, 5}> ()\n y = Reshape (x, s)",
            "float[2,3,4,5] x",
            "more than one -1",
        ),
        (
            "s = Constant <value = int64[2] {7, -1}> ()\n y = Reshape (x, s)",
            "float[2,3,4,5] x",
            "does not hold",
        ),
        (
            "s = Constant <value = int64[2] {3, 7}> ()\n y = Reshape (x, s)",
            "float[2,3,4,5] x",
            "does not hold",
        ),
        (
            "s = Constant <value = int64[3] {2, 0, 20}> ()\n y = Reshape <allowzero = 1> (x, s)",
            "float[2,3,4,5] x",
            "allowzero=1 with a 0",
        ),
        (
            "s = Constant <value = int64[6] {1, 2, 3, 4, 5, 1}> ()\n y = Expand (x, s)",
            "float[3,1] x",
            "rank <= 5",
        ),
        (
            "s = Constant <value = int64[2] {4, 5}> ()\n y = Expand (x, s)",
            "float[3,1] x",
            "does not broadcast",
        ),
    ],
)
def test_shapes_the_emitter_cannot_make_are_refused(body, inputs, reason):
    # the IR's own shape inference may leave these unknown; the check, not the MIL builder, says no
    g = graph(body, inputs=inputs)
    node = g.nodes[-1]
    node.outputs[0].shape = None
    assert reason in mil.lookup(node).check(node, None)


def test_valid_reshape_and_expand_pass_the_check():
    for body in (
        "s = Constant <value = int64[3] {0, -1, 5}> ()\n y = Reshape (x, s)",
        "s = Constant <value = int64[5] {3, 1, 1, 1, 1}> ()\n y = Expand (x, s)",
    ):
        node = graph(body).nodes[-1]
        assert mil.lookup(node).check(node, None) is None
