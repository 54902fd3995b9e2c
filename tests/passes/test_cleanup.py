"""cleanup::fold_constants: shape arithmetic folds even where a shape only becomes known after an
earlier fold (TF "SAME" padding: each stride-2 block's Pad amounts come from the shape the
previous Pad made)."""

from __future__ import annotations

import numpy as np

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from tests.helpers import assert_matches, graph_from_text, op_types, run_graph, run_pipeline

X = np.random.default_rng(3).standard_normal((1, 3, 9, 8)).astype(np.float32)


def _padded_by_its_width(x: str, out: str) -> str:
    """``out = Pad(x)`` by W / 4 rows and columns on the right and bottom: a size ONNX's data propagation
    cannot compute (it does not divide floats), so only folding finds it."""
    return (
        f" s_{out} = Shape ({x})\n w_{out} = Gather <axis = 0> (s_{out}, three)\n"
        f" f_{out} = Cast <to = 1> (w_{out})\n d_{out} = Div (f_{out}, four)\n"
        f" a_{out} = Cast <to = 7> (d_{out})\n u_{out} = Unsqueeze (a_{out}, zero)\n"
        f" pads_{out} = Concat <axis = 0> (six_zeros, u_{out}, u_{out})\n {out} = Pad ({x}, pads_{out})"
    )


CHAIN = (
    '<ir_version: 8, opset_import: ["" : 18]> g (float[1,3,9,8] x) => (float[n,c,h,w] y) '
    "<int64 three = {3}, float four = {4.0}, int64[1] zero = {0}, int64[6] six_zeros = {0, 0, 0, 0, 0, 0},"
    " float[4,3,3,3] wt = {"
    + ", ".join(["0.25"] * 108)
    + "}> {\n"
    + _padded_by_its_width("x", "p1")
    + "\n c = Conv <strides = [2, 2]> (p1, wt)\n"
    + _padded_by_its_width("c", "p2")
    + "\n y = Relu (p2)\n}"
)


def test_shapes_known_only_after_a_fold_fold_too():
    graph = graph_from_text(CHAIN)
    want = run_graph(graph, {"x": X})[0]
    assert want.shape == (1, 4, 6, 5)
    context = passes.PassContext(capabilities=capabilities_for("iOS15"))
    folded = passes.Pipeline([passes.create("cleanup::fold_constants")]).run(graph, context=context)
    assert op_types(folded) == ["Conv", "Pad", "Pad", "Relu"]
    assert folded.tensors()["p2"].shape == [1, 4, 6, 5]  # inferred again after the first fold
    assert_matches(run_graph(folded, {"x": X})[0], want, tolerance=0)


def test_the_chain_converts_without_custom_layers():
    graph = graph_from_text(CHAIN)
    want = run_graph(graph, {"x": X})[0]
    _, lowered, _ = run_pipeline(graph, "lower-custom", "iOS15", format="neuralnetwork")
    assert op_types(lowered) == ["Conv", "Pad", "Relu"]  # the first Pad went into the Conv
    assert_matches(run_graph(lowered, {"x": X})[0], want, tolerance=1e-6)


def test_a_shape_slice_folds_to_its_slice():
    # graphsurgeon's own shape folding ignores start/end: it gave [2, 3, 4, 5] here
    text = (
        '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4,5] x) => (float[n] y) {\n'
        " s = Shape <start = 1, end = -1> (x)\n t = Shape <start = -1> (x)\n st = Concat <axis = 0> (s, t)\n"
        " f = Cast <to = 1> (st)\n y = Identity (f)\n}"
    )
    graph = graph_from_text(text)
    want = run_graph(graph, {"x": np.zeros((2, 3, 4, 5), np.float32)})[0]
    np.testing.assert_array_equal(want, [3, 4, 5])
    context = passes.PassContext(capabilities=capabilities_for("iOS15"))
    folded = passes.Pipeline([passes.create("cleanup::fold_constants")]).run(graph, context=context)
    assert "Shape" not in op_types(folded)
    np.testing.assert_array_equal(run_graph(folded, {"x": np.zeros((2, 3, 4, 5), np.float32)})[0], want)
