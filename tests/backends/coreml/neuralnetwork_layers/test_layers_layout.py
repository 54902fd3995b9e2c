"""Expand, Tile, Pad, DepthToSpace, SpaceToDepth (ops/layout.py) and Shape, ConstantOfShape, Range
(ops/generate.py) against onnxruntime."""

from __future__ import annotations

import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)

X = "float[2,3,4,5] x"


def const(name: str, values: list[int]) -> str:
    return f"{name} = Constant <value = int64[{len(values)}] {{{', '.join(map(str, values))}}}> ()\n "


# name: (inputs, outputs, body, targets)
BOTH = ("iOS13", "iOS14")
CASES = {
    "expand": ("float[3,1,5] x", "float[2,3,4,5] y", const("s", [2, 1, 4, 1]) + "y = Expand (x, s)", BOTH),
    "expand_dynamic": (
        "float[3,1,5] x, float[2,3,4,5] z",
        "float[2,3,4,5] y",
        "s = Shape (z)\n y = Expand (x, s)",
        BOTH,
    ),
    "expand_dynamic_keeps_wider_axes": (  # a run-time shape of [1, 4, 1]: x's extents 3 and 5 stay
        "float[3,1,5] x, float[1,4,1] z",
        "float[3,4,5] y",
        "s = Shape (z)\n y = Expand (x, s)",
        BOTH,
    ),
    "tile": (X, "float[2,6,4,15] y", const("r", [1, 2, 1, 3]) + "y = Tile (x, r)", BOTH),
    "pad_constant": (
        X,
        "float[2,4,7,5] y",
        const("p", [0, 1, 2, 0, 0, 0, 1, 0]) + "c = Constant <value = float {1.5}> ()\n y = Pad (x, p, c)",
        BOTH,
    ),
    "pad_axes": (
        X,
        "float[2,3,5,8] y",
        const("p", [1, 2, 0, 1]) + const("a", [-1, 2]) + "y = Pad (x, p, , a)",
        BOTH,
    ),
    "pad_reflect": (
        X,
        "float[2,3,6,8] y",
        const("p", [0, 0, 1, 1, 0, 0, 1, 2]) + 'y = Pad <mode = "reflect"> (x, p)',
        BOTH,
    ),
    "pad_edge": (
        X,
        "float[2,3,7,5] y",
        const("p", [0, 0, 2, 0, 0, 0, 1, 0]) + 'y = Pad <mode = "edge"> (x, p)',
        BOTH,
    ),
    # wider than the axis: PaddingLayerParams' replication is not limited in the proto (MIL's is)
    "pad_edge_wider_than_the_axis": (
        "float[2,3,2,3] x",
        "float[2,3,9,10] y",
        const("p", [0, 0, 3, 5, 0, 0, 4, 2]) + 'y = Pad <mode = "edge"> (x, p)',
        BOTH,
    ),
    "depth_to_space": ("float[2,8,3,4] x", "float[2,2,6,8] y", "y = DepthToSpace <blocksize = 2> (x)", BOTH),
    "depth_to_space_crd": (
        "float[2,8,3,4] x",
        "float[2,2,6,8] y",
        'y = DepthToSpace <blocksize = 2, mode = "CRD"> (x)',
        ("iOS14",),
    ),
    "space_to_depth": ("float[2,2,6,8] x", "float[2,8,3,4] y", "y = SpaceToDepth <blocksize = 2> (x)", BOTH),
    "shape_to_float": (X, "float[4] y", "s = Shape (x)\n y = Cast <to = 1> (s)", BOTH),
    "shape_sliced": (X, "float[2] y", "s = Shape <start = 1, end = -1> (x)\n y = Cast <to = 1> (s)", BOTH),
    "constant_of_shape": (
        X,
        "float[2,3,4,5] y",
        const("s", [2, 3, 4, 5]) + "f = ConstantOfShape <value = float[1] {2.5}> (s)\n y = Add (x, f)",
        BOTH,
    ),
    "constant_of_shape_dynamic": (
        X,
        "float[2,3,4,5] y",
        "s = Shape (x)\n f = ConstantOfShape <value = float[1] {-1.0}> (s)\n y = Mul (x, f)",
        BOTH,
    ),
    "range": (
        X,
        "float[5] y",
        "a = Constant <value = float {0.5}> ()\n b = Constant <value = float {3.0}> ()\n"
        " d = Constant <value = float {0.5}> ()\n y = Range (a, b, d)",
        BOTH,
    ),
    "range_dynamic": (
        X,
        "float[5] y",
        # the end is known only at run time: the largest extent of x's shape, 5
        "s = Shape (x)\n f = Cast <to = 1> (s)\n n = ReduceMax <keepdims = 0> (f)\n"
        " a = Constant <value = float {0.0}> ()\n d = Constant <value = float {1.0}> ()\n y = Range (a, n, d)",
        BOTH,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_emitted_layout_matches_onnxruntime(case):
    inputs, outputs, body, targets = CASES[case]
    for target in targets:
        assert_matches_onnxruntime(model_text(inputs, outputs, body, 18), target)


@pytest.mark.parametrize(
    "inputs, body, target, reason",
    [
        ("float[2,8,3,4] x", 'y = DepthToSpace <blocksize = 2, mode = "CRD"> (x)', "iOS13", "needs iOS14"),
        (
            "float[2,2,4,6] x",
            'y = SpaceToDepth <blocksize = 2, mode = "CRD"> (x)',
            "iOS14",
            "pixel unshuffle",
        ),
        (X + ", int64[4] r", "y = Tile (x, r)", "iOS13", "needs iOS14"),
        (X, const("p", [0, 0, 0, -1, 0, 0, 0, 0]) + "y = Pad (x, p)", "iOS14", "negative pads"),
        (
            X,
            const("p", [0, 1, 0, 0, 0, 0, 0, 0]) + 'y = Pad <mode = "reflect"> (x, p)',
            "iOS14",
            "last two axes",
        ),
        (X + ", int64[8] p", "y = Pad (x, p)", "iOS14", "must be constant"),
    ],
)
def test_unmappable_forms_are_refused(inputs, body, target, reason):
    assert reason in unsupported_reason(model_text(inputs, "float y", body, 18), target)
