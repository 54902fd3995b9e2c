"""Resize / Upsample as MIL upsample_nearest_neighbor / resize_bilinear, against onnxruntime;
the coordinate modes MIL cannot match are refused."""

from __future__ import annotations

import pytest

from bridgec.backends.coreml import mlprogram_ops as mil
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, graph

SCALES = (
    "roi = Constant <value = float[0] {{}}> ()\n sc = Constant <value = float[4] {{1.0, 1.0, {h}, {w}}}> ()\n"
)
SIZES = "sz = Constant <value = int64[4] {{1, 3, {h}, {w}}}> ()\n"

CASES = {
    "nearest_asymmetric_floor": (
        SCALES.format(h=2.0, w=3.0),
        '<mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor">',
        "(x, roi, sc)",
        "upsample_nearest_neighbor",
    ),
    "nearest_half_pixel": (
        SCALES.format(h=2.0, w=2.0),
        '<mode = "nearest">',
        "(x, roi, sc)",
        "upsample_nearest_neighbor",
    ),
    "linear_align_corners": (
        SIZES.format(h=9, w=7),
        '<mode = "linear", coordinate_transformation_mode = "align_corners">',
        "(x, , , sz)",
        "resize_bilinear",
    ),
    "linear_asymmetric": (
        SCALES.format(h=2.0, w=2.0),
        '<mode = "linear", coordinate_transformation_mode = "asymmetric">',
        "(x, roi, sc)",
        "resize_bilinear",
    ),
    # by integer factors: upsample_bilinear states them, not the output size, so it serves every input size
    "linear_half_pixel": (
        SCALES.format(h=2.0, w=3.0),
        '<mode = "linear">',
        "(x, roi, sc)",
        "upsample_bilinear",
    ),
    "linear_align_corners_x2": (
        SCALES.format(h=2.0, w=2.0),
        '<mode = "linear", coordinate_transformation_mode = "align_corners">',
        "(x, roi, sc)",
        "upsample_bilinear",
    ),
    "linear_half_pixel_down": (
        SCALES.format(h=0.5, w=0.5),
        '<mode = "linear">',
        "(x, roi, sc)",
        "resize_bilinear",
    ),
    "linear_pytorch_half_pixel": (
        SIZES.format(h=8, w=12),
        '<mode = "linear", coordinate_transformation_mode = "pytorch_half_pixel">',
        "(x, , , sz)",
        "upsample_bilinear",
    ),
    # sizes that are no multiple: the grid is in / out, which is what ONNX computes from sizes
    "linear_half_pixel_sizes_7x5": (
        SIZES.format(h=7, w=5),
        '<mode = "linear">',
        "(x, , , sz)",
        "resize_bilinear",
    ),
    "linear_asymmetric_sizes_7x5": (
        SIZES.format(h=7, w=5),
        '<mode = "linear", coordinate_transformation_mode = "asymmetric">',
        "(x, , , sz)",
        "resize_bilinear",
    ),
    "linear_align_corners_down": (
        SIZES.format(h=3, w=2),
        '<mode = "linear", coordinate_transformation_mode = "align_corners">',
        "(x, , , sz)",
        "resize_bilinear",
    ),
    # 4 * 1.5 = 6: ONNX's 1 / 1.5 is MIL's 4 / 6
    "linear_half_pixel_x1.5_exact": (
        SCALES.format(h=1.5, w=1.5),
        '<mode = "linear">',
        "(x, roi, sc)",
        "resize_bilinear",
    ),
    "nearest_x3_round_prefer_ceil": (
        SCALES.format(h=3.0, w=1.0),
        '<mode = "nearest", nearest_mode = "round_prefer_ceil">',
        "(x, roi, sc)",
        "upsample_nearest_neighbor",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resize(case):
    consts, attrs, args, mil_op = CASES[case]
    check(graph(f"{consts} y = Resize {attrs} {args}", inputs="float[1,3,4,6] x", opset=13), (mil_op,))


def test_upsample():
    body = (
        'sc = Constant <value = float[4] {1.0, 1.0, 2.0, 2.0}> ()\n y = Upsample <mode = "nearest"> (x, sc)'
    )
    check(graph(body, inputs="float[1,3,4,6] x", opset=9), ("upsample_nearest_neighbor",))


def test_rank3_and_rank5_resize_the_last_two_axes():
    body = 'sc = Constant <value = float[3] {1.0, 1.0, 2.5}> ()\n y = Resize <mode = "linear"> (x, , sc)'
    check(graph(body, inputs="float[2,3,4] x", opset=13), ("resize_bilinear",))
    body = 'sc = Constant <value = float[5] {1.0, 1.0, 1.0, 2.0, 3.0}> ()\n y = Resize <mode = "nearest"> (x, , sc)'
    check(graph(body, inputs="float[1,2,2,3,4] x", opset=13), ("upsample_nearest_neighbor",))


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        (
            '<mode = "nearest", coordinate_transformation_mode = "align_corners">',
            "nearest align_corners/round_prefer_floor (4, 6) -> (8, 12) does not match",
        ),
        ('<mode = "cubic">', "mode 'cubic' has no MIL op"),
        (
            '<mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "round_prefer_ceil">',
            "nearest asymmetric/round_prefer_ceil (4, 6) -> (8, 12) does not match",
        ),
    ],
)
def test_unmatched_modes_refused(attrs, reason):
    g = graph(
        f"{SCALES.format(h=2.0, w=2.0)} y = Resize {attrs} (x, roi, sc)", inputs="float[1,3,4,6] x", opset=13
    )
    node = next(n for n in g.nodes if n.op == "Resize")
    assert reason in (mil.lookup(node).check(node, None) or "")


@pytest.mark.parametrize(
    "scales, attrs, phrase",
    [
        # the case: 5 x 1.5 samples at 1 / 1.5 in ONNX and PyTorch, at 5 / 7 in resize_bilinear
        ((1.5, 1.5), '<mode = "linear">', "no resize_bilinear sampling_mode"),
        (
            (1.5, 1.5),
            '<mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor">',
            "does not match",
        ),
        (
            (0.6, 0.6),
            '<mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor">',
            "does not match",
        ),
        ((0.5, 0.5), '<mode = "linear", antialias = 1>', "antialias"),
    ],
)
def test_inexact_forms_refused(scales, attrs, phrase):
    consts = SCALES.format(h=scales[0], w=scales[1])
    g = graph(f"{consts} y = Resize {attrs} (x, roi, sc)", inputs="float[1,3,5,5] x", opset=18)
    node = next(n for n in g.nodes if n.op == "Resize")
    reason = mil.lookup(node).check(node, None)
    assert reason is not None and phrase in reason, reason
