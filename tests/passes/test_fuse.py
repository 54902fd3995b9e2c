"""fuse::pad_into_conv: a zero Pad of the spatial axes read only by convolutions becomes their own
padding (TF "SAME" padding, tf_efficientnetv2). Per case: the Pad is gone, the numbers equal
onnxruntime's on the original graph, in the rewritten graph and in both emitted formats; and the
cases where folding would change the numbers, so the rule must not fire."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml.executor import run as run_neuralnetwork
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from tests.helpers import assert_matches, graph_from_text, op_types, run_graph, run_pipeline

RNG = np.random.default_rng(5)
X = RNG.standard_normal((1, 3, 9, 8)).astype(np.float32)
W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)


def model(pad: str, conv: str = "Conv <strides = [2, 2]> (p, w)", out: str = "y = Identity (c)") -> str:
    weights = ", ".join(f"{v:.6f}" for v in W.reshape(-1))
    return (
        '<ir_version: 8, opset_import: ["" : 18]> g (float[1,3,9,8] x) => (float[n,c,h,w] y) '
        f"<float[4,3,3,3] w = {{{weights}}}> {{\n {pad}\n c = {conv}\n {out}\n}}"
    )


TF_SAME = "pads = Constant <value = int64[8] {0, 0, 0, 0, 0, 0, 1, 2}> ()\n p = Pad (x, pads)"

FOLDS = {
    "tf_same_asymmetric": model(TF_SAME),
    "added_to_the_conv_pads": model(TF_SAME, conv="Conv <pads = [1, 1, 1, 1]> (p, w)"),
    "axes_input_and_explicit_zero": model(
        "pads = Constant <value = int64[4] {1, 0, 0, 1}> ()\n"
        " v = Constant <value = float {0.0}> ()\n axes = Constant <value = int64[2] {-2, -1}> ()\n"
        " p = Pad (x, pads, v, axes)"
    ),
    "two_convolutions_read_it": model(
        TF_SAME, out="d = Conv <strides = [2, 2]> (p, w)\n r = Relu (d)\n y = Concat <axis = 1> (c, r)"
    ),
}

KEEPS = {
    "reflect": model(
        'pads = Constant <value = int64[8] {0, 0, 1, 1, 0, 0, 1, 1}> ()\n p = Pad <mode = "reflect"> (x, pads)'
    ),
    "pads_with_one": model(
        "pads = Constant <value = int64[8] {0, 0, 1, 1, 0, 0, 1, 1}> ()\n"
        " v = Constant <value = float {1.0}> ()\n p = Pad (x, pads, v)"
    ),
    "also_read_by_relu": model(
        TF_SAME, out="r = Relu (p)\n s = ReduceSum <keepdims = 0> (r)\n y = Add (c, s)"
    ),
    "negative_crop": model(
        "pads = Constant <value = int64[8] {0, 0, 0, -1, 0, 0, 0, 0}> ()\n p = Pad (x, pads)"
    ),
    "auto_pad_conv": model(TF_SAME, conv='Conv <auto_pad = "SAME_UPPER"> (p, w)'),
}


@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
@pytest.mark.parametrize("case", FOLDS)
def test_a_zero_spatial_pad_folds_into_the_convolution(case, fmt):
    graph = graph_from_text(FOLDS[case])
    want = run_graph(graph, {"x": X})[0]
    _, lowered, ctx = run_pipeline(graph, "lower-custom", "iOS15", format=fmt)
    assert "Pad" not in op_types(lowered)
    assert [r.rule for r in ctx.rewrites if r.pass_id == "fuse::pad_into_conv"] == ["pad_into_conv"]
    assert_matches(run_graph(lowered, {"x": X})[0], want, tolerance=1e-6, what="rewritten graph")
    if fmt == "neuralnetwork":
        got = run_neuralnetwork(build_spec(lowered, "iOS15"), {"x": X})["y"]
    else:
        got = run_mlprogram(build_mlprogram(lowered, "iOS15"), {"x": X})["y"]
    assert_matches(got, want, tolerance=1e-5, what=fmt)


@pytest.mark.parametrize("case", KEEPS)
def test_a_pad_the_convolution_cannot_take_stays(case):
    graph = graph_from_text(KEEPS[case])
    want = run_graph(graph, {"x": X})[0]
    _, lowered, ctx = run_pipeline(graph, "lower-custom", "iOS15", format="mlprogram")
    assert not [r for r in ctx.rewrites if r.pass_id == "fuse::pad_into_conv"]
    assert_matches(run_graph(lowered, {"x": X})[0], want, tolerance=1e-6)


def test_the_near_miss_says_why():
    graph = graph_from_text(KEEPS["pads_with_one"])
    _, _, ctx = run_pipeline(graph, "lower-custom", "iOS15", format="mlprogram")
    assert ctx.near_misses["fuse::pad_into_conv/pad_into_conv"].reason == "it pads with 1.0, not 0"
