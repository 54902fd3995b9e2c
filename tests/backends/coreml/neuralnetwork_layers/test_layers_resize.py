"""Resize / Upsample as NeuralNetwork upsample / resizeBilinear: what is emitted matches onnxruntime,
what no layer computes exactly is refused with the reason (and left to lower::resize)."""

from __future__ import annotations

import pytest

from bridgec.backends.coreml.neuralnetwork_layers import resize as nn_resize
from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)


def resize(
    x: str, y: str, attrs: str, scales: tuple | None = None, sizes: tuple | None = None, opset=18
) -> str:
    if scales is not None:
        init = f"<float[{len(scales)}] s = {{{', '.join(map(str, scales))}}}>"
        call = "(x, , s)"
    else:
        init = f"<int64[{len(sizes)}] z = {{{', '.join(map(str, sizes))}}}>"
        call = "(x, , , z)"
    text = model_text(f"float[{x}] x", f"float[{y}] y", f"y = Resize <{attrs}> {call}", opset)
    return text.replace(" {\n", f" {init} {{\n", 1)


NEAREST_ROUND = 'mode = "nearest", nearest_mode = "round_prefer_ceil"'  # half_pixel: PyTorch's nearest-exact
NEAREST_FLOOR = 'mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor"'

# name: (model text, target, layer kind)
EMITTED = {
    "nearest_x3_half_pixel_round": (
        resize("1,2,3,4", "1,2,9,12", NEAREST_ROUND, (1.0, 1.0, 3.0, 3.0)),
        "iOS13",
        "upsample",
    ),
    "nearest_x(2,1)_floor": (
        resize("2,2,3,4", "2,2,6,4", NEAREST_FLOOR, (1.0, 1.0, 2.0, 1.0)),
        "iOS13",
        "upsample",
    ),
    "nearest_sizes_x2": (
        resize("1,2,3,4", "1,2,6,8", NEAREST_FLOOR, sizes=(1, 2, 6, 8)),
        "iOS13",
        "upsample",
    ),
    "bilinear_half_pixel_x2": (
        resize("1,2,4,5", "1,2,8,10", 'mode = "linear"', (1.0, 1.0, 2.0, 2.0)),
        "iOS14",
        "upsample",
    ),
    # 4 * 1.5 = 6 exactly: the fractional factor's output size and in / out grid are unambiguous
    "bilinear_half_pixel_x1.5_exact": (
        resize("1,2,4,6", "1,2,6,9", 'mode = "linear"', (1.0, 1.0, 1.5, 1.5)),
        "iOS14",
        "upsample",
    ),
    # upsample's factors hold at every input size: preferred to a fixed target size
    "bilinear_align_corners_x2": (
        resize(
            "1,2,3,4",
            "1,2,6,8",
            'mode = "linear", coordinate_transformation_mode = "align_corners"',
            (1.0, 1.0, 2.0, 2.0),
        ),
        "iOS14",
        "upsample",
    ),
    "bilinear_asymmetric_x3_ios13": (
        resize(
            "1,2,3,4",
            "1,2,9,12",
            'mode = "linear", coordinate_transformation_mode = "asymmetric"',
            (1.0, 1.0, 3.0, 3.0),
        ),
        "iOS13",
        "upsample",
    ),
    "bilinear_align_corners_x2_ios13": (
        resize(
            "1,2,3,4",
            "1,2,6,8",
            'mode = "linear", coordinate_transformation_mode = "align_corners"',
            (1.0, 1.0, 2.0, 2.0),
        ),
        "iOS13",
        "resizeBilinear",
    ),
    "bilinear_align_corners_down": (
        resize(
            "1,2,6,8",
            "1,2,4,3",
            'mode = "linear", coordinate_transformation_mode = "align_corners"',
            sizes=(1, 2, 4, 3),
        ),
        "iOS13",
        "resizeBilinear",
    ),
    "bilinear_asymmetric_sizes_5to7": (
        resize(
            "1,2,5,5",
            "1,2,7,3",
            'mode = "linear", coordinate_transformation_mode = "asymmetric"',
            sizes=(1, 2, 7, 3),
        ),
        "iOS13",
        "resizeBilinear",
    ),
    "rank3_width_only": (resize("2,3,5", "2,3,10", NEAREST_FLOOR, (1.0, 1.0, 2.0)), "iOS13", "upsample"),
    "rank5_last_two": (
        resize("1,2,2,3,4", "1,2,2,6,8", 'mode = "linear"', (1.0, 1.0, 1.0, 2.0, 2.0)),
        "iOS14",
        "upsample",
    ),
}


@pytest.mark.parametrize("name", EMITTED)
def test_emitted_matches_onnxruntime(name):
    text, target, kind = EMITTED[name]
    # interpolation weights are applied in another order than onnxruntime: a few float32 roundings
    assert kind in assert_matches_onnxruntime(text, target, tolerance=1e-6)


# name: (model text, target, a phrase of the reason)
REFUSED = {
    # the issue's case: PyTorch/ONNX sample at 1 / 1.5, the half-pixel upsample at 5 / 7
    "bilinear_half_pixel_x1.5_inexact": (
        resize("1,3,5,5", "1,3,7,7", 'mode = "linear"', (1.0, 1.0, 1.5, 1.5)),
        "iOS15",
        "samples where no Core ML",
    ),
    "bilinear_half_pixel_x2_ios13": (
        resize("1,3,4,5", "1,3,8,10", 'mode = "linear"', (1.0, 1.0, 2.0, 2.0)),
        "iOS13",
        "needs iOS14",
    ),
    "bilinear_half_pixel_down": (
        resize("1,2,6,8", "1,2,3,4", 'mode = "linear"', sizes=(1, 2, 3, 4)),
        "iOS15",
        "samples where no Core ML",
    ),
    "nearest_x1.5": (
        resize("1,2,4,4", "1,2,6,6", NEAREST_FLOOR, (1.0, 1.0, 1.5, 1.5)),
        "iOS15",
        "does not match",
    ),
    "nearest_down": (
        resize("1,2,4,4", "1,2,2,2", NEAREST_FLOOR, (1.0, 1.0, 0.5, 0.5)),
        "iOS15",
        "does not match",
    ),
    "nearest_asymmetric_round": (
        resize(
            "1,2,4,4",
            "1,2,8,8",
            'mode = "nearest", coordinate_transformation_mode = "asymmetric"',
            (1.0, 1.0, 2.0, 2.0),
        ),
        "iOS15",
        "does not match",
    ),
    "cubic": (
        resize("1,2,4,4", "1,2,8,8", 'mode = "cubic"', (1.0, 1.0, 2.0, 2.0)),
        "iOS15",
        "no Core ML equivalent",
    ),
    "antialias": (
        resize("1,2,8,8", "1,2,4,4", 'mode = "linear", antialias = 1', (1.0, 1.0, 0.5, 0.5)),
        "iOS15",
        "antialias",
    ),
    "channels": (resize("1,2,4,4", "1,4,4,4", NEAREST_FLOOR, (1.0, 2.0, 1.0, 1.0)), "iOS15", "last two axes"),
    "rank2": (resize("4,4", "8,8", NEAREST_FLOOR, (2.0, 2.0)), "iOS15", "rank 3..5"),
    "aspect_policy": (
        resize(
            "1,2,4,6",
            "1,2,6,9",
            'mode = "linear", keep_aspect_ratio_policy = "not_larger"',
            sizes=(1, 2, 6, 10),
        ),
        "iOS15",
        "keep_aspect_ratio_policy",
    ),
    # onnxruntime sizes floor(10 * 0.7f) in float32 (7), ONNX shape inference in float64 (6)
    "ambiguous_output_size": (
        resize("1,1,2,10", "1,1,2,6", NEAREST_FLOOR, (1.0, 1.0, 1.0, 0.7)),
        "iOS15",
        "output shape",
    ),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_with_the_reason(name):
    text, target, phrase = REFUSED[name]
    reason = unsupported_reason(text, target)
    assert reason is not None and phrase in reason, reason


@pytest.mark.parametrize(
    "n_in, n_out, factor",
    [(4, 8, 2.0), (4, 6, 1.5), (5, 7, None), (3, 7, None), (2000, 2001, None), (6, 3, None)],
)
def test_upsample_factors_only_where_the_output_size_is_unambiguous(n_in, n_out, factor):
    # 7/3 in float32 times 3 is not 7; 2001/2000 the builder would round to 1; 6 -> 3 is no upsample
    assert nn_resize._upsample_factor(n_in, n_out) == factor
