"""Data movement (Concat, Split, Slice, Gather, Tile, Pad, DepthToSpace, SpaceToDepth, CumSum, TopK) as
MIL ops, against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml import mlprogram_ops as mil
from bridgec.core import ir
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, graph


def const(name: str, values: list[int]) -> str:
    return f"{name} = Constant <value = int64[{len(values)}] {{{', '.join(map(str, values))}}}> ()\n"


CASES = {
    "concat": ("r = Relu (x)\n y = Concat <axis = 1> (x, r)", ("concat",)),
    "split_equal": ("a, b = Split <axis = 2> (x)\n y = Sub (b, a)", ("split",)),
    "split_sizes": (
        const("s", [2, 3]) + "a, b = Split <axis = -1> (x, s)\n y = Concat <axis = -1> (b, a)",
        ("split",),
    ),
    "slice": (
        const("s", [1, 1])
        + const("e", [9223372036854775807, -1])
        + const("a", [1, 2])
        + "y = Slice (x, s, e, a)",
        ("slice_by_index",),
    ),
    "slice_steps": (
        const("s", [0, -4])
        + const("e", [4, 5])
        + const("a", [2, 3])
        + const("t", [2, 3])
        + "y = Slice (x, s, e, a, t)",
        ("slice_by_index",),
    ),
    "slice_reverse": (
        const("s", [-1])
        + const("e", [-9223372036854775807])
        + const("a", [3])
        + const("t", [-1])
        + "y = Slice (x, s, e, a, t)",
        ("slice_by_index",),
    ),
    "slice_reverse_partial": (
        const("s", [3]) + const("e", [0]) + const("a", [2]) + const("t", [-2]) + "y = Slice (x, s, e, a, t)",
        ("slice_by_index",),
    ),
    "gather_scalar": ("i = Constant <value = int64 {-1}> ()\n y = Gather <axis = 1> (x, i)", ("gather",)),
    "gather_indices": (
        "i = Constant <value = int64[3] {3, 0, -2}> ()\n y = Gather <axis = 2> (x, i)",
        ("gather",),
    ),
    "gather_runtime_indices": (
        "m = ArgMax <axis = 3, keepdims = 0> (x)\n f = Flatten <axis = 0> (m)\n s = Squeeze (f)\n y = Gather <axis = 3> (x, s)",
        ("gather", "reduce_argmax"),
    ),
    "tile": (const("r", [1, 2, 1, 3]) + "y = Tile (x, r)", ("tile",)),
    "pad_constant": (
        const("p", [0, 0, 1, 2, 0, 0, 3, 0]) + "v = Constant <value = float {1.5}> ()\n y = Pad (x, p, v)",
        ("pad",),
    ),
    "pad_reflect": (const("p", [0, 0, 1, 2, 0, 0, 2, 1]) + 'y = Pad <mode = "reflect"> (x, p)', ("pad",)),
    "pad_edge": (const("p", [0, 0, 0, 2, 0, 0, 0, 3]) + 'y = Pad <mode = "edge"> (x, p)', ("pad",)),
    "pad_channels": (const("p", [0, 1, 0, 0, 0, 2, 0, 0]) + "y = Pad (x, p)", ("pad",)),
    "depth_to_space_dcr": ("y = DepthToSpace <blocksize = 2> (x)", ("depth_to_space",)),
    "depth_to_space_crd": ('y = DepthToSpace <blocksize = 2, mode = "CRD"> (x)', ("pixel_shuffle",)),
    "space_to_depth": ("y = SpaceToDepth <blocksize = 2> (x)", ("space_to_depth",)),
    "cumsum": ("a = Constant <value = int64 {2}> ()\n y = CumSum (x, a)", ("cumsum",)),
    "cumsum_exclusive_reverse": (
        "a = Constant <value = int64 {-1}> ()\n y = CumSum <exclusive = 1, reverse = 1> (x, a)",
        ("cumsum",),
    ),
    "topk_values": ("k = Constant <value = int64[1] {3}> ()\n y, i = TopK <axis = -1> (x, k)", ("topk",)),
    "topk_smallest_indices": (
        "k = Constant <value = int64[1] {2}> ()\n v, i = TopK <axis = 1, largest = 0> (x, k)\n y = Cast <to = 1> (i)",
        ("topk",),
    ),
}
SHAPES = {
    "depth_to_space_dcr": "float[1,8,3,4] x",
    "depth_to_space_crd": "float[1,8,3,4] x",
    "space_to_depth": "float[1,2,4,6] x",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tensor_op(case):
    body, mil_ops = CASES[case]
    check(graph(body, inputs=SHAPES.get(case, "float[2,3,4,5] x")), mil_ops)


def test_variable_pads_refused():
    g = graph("y = Pad (x, p)", inputs="float[2,3,4,5] x, int64[8] p")
    node = g.nodes[0]
    assert "constant" in mil.lookup(node).check(node, None)


def test_scatter_nd():
    body = "i = Constant <value = int64[2,2] {0, 1, 1, 2}> ()\n y = ScatterND (x, i, u)"
    check(graph(body, inputs="float[2,3,4,5] x, float[2,4,5] u"), ("scatter_nd",))


FROM_SHAPES = {
    # pads, slice bounds and resize sizes computed from Shape: not constants in the ONNX IR, but
    # known when the ML Program is built (its input shapes are static), so folded there
    "pad": (
        "s = Shape (x)\n hw = Slice (s, two, four)\n z = Constant <value = int64[6] {0, 0, 0, 0, 0, 0}> ()\n"
        " p = Concat <axis = 0> (z, hw)\n y = Pad (x, p)",
        "pad",
    ),
    "slice": (
        "s = Shape (x)\n e = Slice (s, two, four)\n b = Constant <value = int64[2] {1, 2}> ()\n y = Slice (x, b, e, twothree)",
        "slice_by_index",
    ),
    "resize": (
        "s = Shape (x)\n k = Constant <value = int64[4] {1, 1, 2, 3}> ()\n sz = Mul (s, k)\n"
        ' y = Resize <mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor"> (x, , , sz)',
        "upsample_nearest_neighbor",
    ),
}


@pytest.mark.parametrize("case", sorted(FROM_SHAPES))
def test_inputs_computed_from_shapes(case):
    from bridgec.backends.coreml.mlprogram_ops import known_at_build

    body, mil_op = FROM_SHAPES[case]
    consts = (
        "two = Constant <value = int64[1] {2}> ()\n four = Constant <value = int64[1] {4}> ()\n"
        " twothree = Constant <value = int64[2] {2, 3}> ()\n"
    )
    g = graph(consts + body)
    node = g.nodes[-1]
    folded = [t for t in node.inputs[1:] if t.name and ir.constant_value(t) is None]
    assert folded and all(known_at_build(t) for t in folded)  # not IR constants, yet known
    assert mil.lookup(node).check(node, None) is None
    check(g, (mil_op,))


def test_values_from_graph_inputs_are_not_known_at_build():
    from bridgec.backends.coreml.mlprogram_ops import known_at_build

    g = graph("s = Shape (x)\n y = Add (x, z)", inputs="float[2,3,4,5] x, float[2,3,4,5] z")
    tensors = g.tensors()
    assert known_at_build(tensors["s"]) and not known_at_build(tensors["y"])


def test_split_18_uneven_num_outputs():
    """opset 18's num_outputs: ceil-sized parts, the last one smaller (5 -> 2, 2, 1)."""
    body = "a, b, c = Split <axis = 3, num_outputs = 3> (x)\n y = Concat <axis = 3> (c, a, b)"
    check(graph(body, opset=18), ("split",))


@pytest.mark.parametrize("mode", ["CRD", "DCR"])
def test_space_to_depth_modes(mode):
    # opset 28 gave SpaceToDepth a mode; CRD is MIL's DCR output with its two channel factors swapped
    g = graph(f'y = SpaceToDepth <blocksize = 2, mode = "{mode}"> (x)', inputs="float[2,3,4,6] x", opset=28)
    check(g, ("space_to_depth",))


def test_space_to_depth_unknown_mode_refused():
    node = graph(
        'y = SpaceToDepth <blocksize = 2, mode = "XYZ"> (x)', inputs="float[1,2,4,6] x", opset=28
    ).nodes[0]
    assert "neither DCR nor CRD" in mil.lookup(node).check(node, None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (const("s", [1, 1]) + " a, b, c = Split <axis = 1> (x, s)", "2 split sizes for 3 outputs"),
        (const("s", [1, 1]) + " a, b = Split <axis = 1> (x, s)", "do not add up"),
        (const("b", [0, 1]) + const("e", [2]) + " y = Slice (x, b, e)", "different lengths"),
    ],
)
def test_malformed_split_and_slice_refused(body, reason):
    node = graph(body, outputs="float a" if "Split" in body else "float y").nodes[-1]
    assert reason in mil.lookup(node).check(node, None)


def test_gather_with_runtime_negative_indices():
    # ONNX counts negative indices from the back; MIL's gather does so only up to iOS16 (from iOS17
    # they are out of bounds, which the executor makes an error): check() builds iOS15 and iOS18
    body = "i = Cast <to = 7> (f)\n y = Gather <axis = 2> (x, i)"
    g = graph(body, inputs="float[2,3,4,5] x, float[2,2] f")
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)}
    feeds["f"] = np.array([[-1, 0], [-4, 3]], np.float32)
    check(g, ("gather",), feeds=feeds)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_reductions_and_negative_indices(reduction):
    body = (
        "i = Constant <value = int64[3,2] {0, -1, 1, 2, 0, 3}> ()\n"
        f' y = ScatterND <reduction = "{reduction}"> (x, i, u)'
    )
    check(graph(body, inputs="float[2,4,5] x, float[3,5] u", opset=18), ("scatter_nd",))


def test_pad_axes_input_and_edge_limit():
    body = const("p", [1, 2, 0, 3]) + const("a", [-1, 1]) + 'y = Pad <mode = "edge"> (x, p, , a)'
    check(graph(body, opset=18), ("pad",))
    too_wide = const("p", [0, 6]) + const("a", [3]) + 'y = Pad <mode = "edge"> (x, p, , a)'
    node = graph(too_wide, opset=18).nodes[-1]
    assert "at most 5" in mil.lookup(node).check(node, None)


def test_one_output_split_and_negative_cumsum_axis():
    check(graph("y = Split <axis = 1, num_outputs = 1> (x)", opset=18))
    check(graph("a = Constant <value = int64 {-2}> ()\n y = CumSum <reverse = 1> (x, a)"), ("cumsum",))


@pytest.mark.parametrize(
    ("body", "inputs"),
    [
        ("y = Transpose (x)", "float[1,2,1,2,1,2] x"),
        ("a = Constant <value = int64[1] {0}> ()\n y = Unsqueeze (x, a)", "float[1,2,3,2,1] x"),
        (
            "i = Constant <value = int64[2,2] {0, 1, 1, 0}> ()\n y = Gather <axis = 1> (x, i)",
            "float[2,2,3,2,2] x",
        ),
        ("y = Concat <axis = 0> (x, x)", "float[1,2,1,2,1,2] x"),
    ],
)
def test_rank_6_is_refused_by_the_check(body, inputs):
    # ML Program tensors have rank <= 5: the capability check says so, so the passes see it
    node = graph(body, inputs=inputs).nodes[-1]
    assert "rank <= 5" in mil.lookup(node).check(node, None)
