"""convolution layer against torch.nn.functional.conv2d / conv_transpose2d."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


def _add_conv(w_t: np.ndarray, b: np.ndarray | None, groups: int, stride, dilation, **kw):
    c_out, k_ch, kh, kw_ = w_t.shape

    def add(builder):
        builder.add_convolution(
            "conv",
            kernel_channels=k_ch,
            output_channels=c_out,
            height=kh,
            width=kw_,
            stride_height=stride[0],
            stride_width=stride[1],
            groups=groups,
            W=w_t.transpose(2, 3, 1, 0),  # builder layout [kh, kw, C_in/G, C_out]
            b=b,
            has_bias=b is not None,
            dilation_factors=list(dilation),
            input_name="x",
            output_name="y",
            **kw,
        )

    return add


# (batch, c_in, c_out, H, W, kernel, stride, dilation, groups, pads (t, b, l, r), bias)
VALID_CASES = [
    (1, 3, 8, 9, 9, (3, 3), (1, 1), (1, 1), 1, (0, 0, 0, 0), True),
    (2, 5, 7, 10, 8, (3, 3), (2, 2), (1, 1), 1, (1, 1, 1, 1), True),  # stride 2, even input, batch 2
    (1, 6, 6, 8, 8, (3, 3), (1, 1), (1, 1), 6, (1, 1, 1, 1), False),  # depthwise
    (1, 6, 12, 8, 8, (3, 3), (2, 2), (1, 1), 6, (0, 1, 0, 1), True),  # depthwise x2, asymmetric pad
    (1, 6, 9, 7, 9, (2, 4), (1, 2), (1, 1), 3, (1, 0, 2, 1), True),  # even kernels, groups 3
    (1, 4, 5, 11, 11, (3, 3), (1, 1), (2, 3), 1, (2, 2, 3, 3), True),  # dilation
    (1, 7, 3, 6, 6, (1, 1), (2, 2), (1, 1), 1, (0, 0, 0, 0), True),  # strided 1x1
    (1, 8, 4, 5, 5, (1, 1), (1, 1), (1, 1), 2, (1, 0, 0, 1), False),  # grouped, padded 1x1
    (1, 3, 5, 7, 7, (5, 5), (3, 3), (1, 1), 1, (2, 1, 0, 2), True),  # stride 3, odd kernel 5
    (2, 5, 5, 12, 10, (3, 3), (2, 1), (2, 2), 5, (2, 2, 1, 3), True),  # dilated, strided depthwise
    (1, 3, 9, 8, 8, (5, 3), (1, 1), (1, 1), 3, (2, 2, 1, 1), True),  # depthwise, multiplier 3
]


@pytest.mark.parametrize("case", VALID_CASES, ids=[f"c{i}" for i in range(len(VALID_CASES))])
def test_convolution_valid_padding(case):
    batch, c_in, c_out, h, w, k, stride, dil, groups, pads, bias = case
    x = rand(batch, c_in, h, w, seed=1)
    w_t = rand(c_out, c_in // groups, *k, seed=2)
    b = rand(c_out, seed=3) if bias else None
    pt, pb, pl, pr = pads
    y = run_one(
        {"x": x},
        _add_conv(
            w_t,
            b,
            groups,
            stride,
            dil,
            border_mode="valid",
            padding_top=pt,
            padding_bottom=pb,
            padding_left=pl,
            padding_right=pr,
        ),
    )
    xt = F.pad(torch.from_numpy(x), (pl, pr, pt, pb))
    ref = F.conv2d(
        xt,
        torch.from_numpy(w_t),
        None if b is None else torch.from_numpy(b),
        stride=stride,
        dilation=dil,
        groups=groups,
    )
    assert_matches(y, ref, tolerance=1e-6)


def _same_pads(n, k, s, top_left_heavy):
    out = math.ceil(n / s)
    total = max(0, (out - 1) * s + k - n)
    light = total // 2
    return (total - light, light) if top_left_heavy else (light, total - light)


@pytest.mark.parametrize("mode", ["BOTTOM_RIGHT_HEAVY", "TOP_LEFT_HEAVY"])
@pytest.mark.parametrize(
    "h,w,k,stride,groups",
    [
        (8, 8, (3, 3), (2, 2), 1),
        (7, 9, (4, 2), (1, 1), 1),
        (10, 10, (3, 3), (2, 2), 4),
        (6, 5, (5, 5), (3, 2), 1),
    ],
)
def test_convolution_same_padding(mode, h, w, k, stride, groups):
    c_in, c_out = 4, 8
    x = rand(1, c_in, h, w, seed=4)
    w_t = rand(c_out, c_in // groups, *k, seed=5)
    b = rand(c_out, seed=6)
    y = run_one(
        {"x": x},
        _add_conv(w_t, b, groups, stride, (1, 1), border_mode="same", same_padding_asymmetry_mode=mode),
    )
    tlh = mode == "TOP_LEFT_HEAVY"
    pt, pb = _same_pads(h, k[0], stride[0], tlh)
    pl, pr = _same_pads(w, k[1], stride[1], tlh)
    ref = F.conv2d(
        F.pad(torch.from_numpy(x), (pl, pr, pt, pb)),
        torch.from_numpy(w_t),
        torch.from_numpy(b),
        stride=stride,
        groups=groups,
    )
    assert y.shape[2:] == (math.ceil(h / stride[0]), math.ceil(w / stride[1]))
    assert_matches(y, ref, tolerance=1e-6)


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
def test_convolution_same_matches_torch_same_for_stride_1():
    # torch's padding="same" puts the odd unit at the end, i.e. BOTTOM_RIGHT_HEAVY.
    x, w_t = rand(1, 3, 6, 7, seed=7), rand(5, 3, 4, 4, seed=8)
    y = run_one({"x": x}, _add_conv(w_t, None, 1, (1, 1), (1, 1), border_mode="same"))
    assert_matches(y, F.conv2d(torch.from_numpy(x), torch.from_numpy(w_t), padding="same"), tolerance=1e-6)


def test_convolution_rank5_leading_batch_dims():
    x = rand(2, 3, 4, 6, 6, seed=9)
    w_t, b = rand(5, 4, 3, 3, seed=10), rand(5, seed=11)
    y = run_one({"x": x}, _add_conv(w_t, b, 1, (1, 1), (1, 1), border_mode="valid"))
    ref = F.conv2d(torch.from_numpy(x.reshape(6, 4, 6, 6)), torch.from_numpy(w_t), torch.from_numpy(b))
    assert_matches(y, ref.reshape(2, 3, 5, 4, 4), tolerance=1e-6)


# (c_in, c_out, H, W, kernel, stride, padding, output_padding, groups)
DECONV_CASES = [
    (4, 6, 5, 5, (3, 3), (2, 2), (1, 1), (1, 1), 1),
    (4, 6, 4, 6, (4, 4), (2, 2), (1, 1), (0, 0), 2),
    (3, 2, 3, 4, (3, 2), (3, 1), (2, 0), (2, 0), 1),
    (6, 6, 5, 5, (3, 3), (2, 2), (2, 2), (0, 1), 6),
]


def _add_deconv(w_t, b, stride, groups, output_shape=None, pads=(0, 0, 0, 0)):
    c_in, og, kh, kw = w_t.shape

    def add(builder):
        builder.add_convolution(
            "deconv",
            kernel_channels=c_in,
            output_channels=og * groups,
            height=kh,
            width=kw,
            stride_height=stride[0],
            stride_width=stride[1],
            border_mode="valid",
            groups=groups,
            W=w_t.transpose(2, 3, 0, 1),
            b=b,
            has_bias=b is not None,
            is_deconv=True,
            output_shape=output_shape,
            input_name="x",
            output_name="y",
            padding_top=pads[0],
            padding_bottom=pads[1],
            padding_left=pads[2],
            padding_right=pads[3],
        )

    return add


@pytest.mark.parametrize("case", DECONV_CASES, ids=[f"d{i}" for i in range(len(DECONV_CASES))])
def test_deconvolution_padding_crops_the_full_map(case):
    # ValidPadding with deconvolution: H_out = (H_in-1) * stride + kernelSize - (top + bottom); torch's
    # output_padding (at most the padding here) is a smaller bottom/right crop
    c_in, c_out, h, w, k, stride, pad, out_pad, groups = case
    x = rand(1, c_in, h, w, seed=12)
    w_t = rand(c_in, c_out // groups, *k, seed=13)  # torch ConvTranspose layout [C_in, C_out/G, kh, kw]
    b = rand(c_out, seed=14)
    ref = F.conv_transpose2d(
        torch.from_numpy(x),
        torch.from_numpy(w_t),
        torch.from_numpy(b),
        stride=stride,
        padding=pad,
        output_padding=out_pad,
        groups=groups,
    )
    pads = (pad[0], pad[0] - out_pad[0], pad[1], pad[1] - out_pad[1])
    assert_matches(run_one({"x": x}, _add_deconv(w_t, b, stride, groups, pads=pads)), ref, tolerance=1e-6)


@pytest.mark.parametrize("out_pad", [(1, 1), (2, 0), (0, 1)])
def test_deconvolution_output_shape_past_the_full_map_is_bias(out_pad):
    # the proto is silent on what fills an outputShape larger than the map: we assume the bias alone,
    # which is torch's (and ONNX's) output_padding without padding
    x, w_t, b = rand(1, 3, 4, 5, seed=20), rand(3, 4, 3, 3, seed=21), rand(4, seed=22)
    ref = F.conv_transpose2d(
        torch.from_numpy(x), torch.from_numpy(w_t), torch.from_numpy(b), stride=(3, 2), output_padding=out_pad
    )
    add = _add_deconv(w_t, b, (3, 2), 1, output_shape=tuple(ref.shape[2:]))
    assert_matches(run_one({"x": x}, add), ref, tolerance=1e-6)


def test_deconvolution_output_shape_ignores_the_padding():
    # "ConvolutionPaddingType (valid or same) is ignored when outputShape is set": nothing is cropped
    # at the start, the output is the full map's first rows and columns
    x, w_t = rand(1, 2, 4, 4, seed=23), rand(2, 3, 3, 3, seed=24)
    full = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w_t), stride=2)  # 9 x 9
    add = _add_deconv(w_t, None, (2, 2), 1, output_shape=(7, 8), pads=(1, 1, 1, 0))
    assert_matches(run_one({"x": x}, add), full[:, :, :7, :8], tolerance=1e-5)


def test_deconvolution_without_output_shape():
    x, w_t = rand(1, 2, 4, 4, seed=15), rand(2, 3, 3, 3, seed=16)

    def add(builder):
        builder.add_convolution(
            "deconv",
            kernel_channels=2,
            output_channels=3,
            height=3,
            width=3,
            stride_height=2,
            stride_width=2,
            border_mode="valid",
            groups=1,
            W=w_t.transpose(2, 3, 0, 1),
            b=None,
            has_bias=False,
            is_deconv=True,
            input_name="x",
            output_name="y",
        )

    assert_matches(
        run_one({"x": x}, add),
        F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w_t), stride=2),
        tolerance=1e-5,
    )


# --- convolution3d -------------------------------------------------------------------------------


def _add_conv3d(
    w: np.ndarray, b: np.ndarray | None, groups: int, stride, dilation, padding: str, pads=(0,) * 6
):
    def add(builder):
        builder.add_convolution3d(
            "conv3d",
            input_channels=w.shape[1] * groups,
            output_channels=w.shape[0],
            depth=w.shape[2],
            height=w.shape[3],
            width=w.shape[4],
            W=w,
            b=b,
            has_bias=b is not None,
            groups=groups,
            stride_depth=stride[0],
            stride_height=stride[1],
            stride_width=stride[2],
            dilation_depth=dilation[0],
            dilation_height=dilation[1],
            dilation_width=dilation[2],
            padding_mode=padding,
            padding_front=pads[0],
            padding_back=pads[1],
            padding_top=pads[2],
            padding_bottom=pads[3],
            padding_left=pads[4],
            padding_right=pads[5],
            input_name="x",
            output_name="y",
        )

    return add


# (x shape, weight shape, groups, stride, dilation, custom pads (front, back, top, bottom, left, right))
CONV3D_CASES = [
    ((1, 3, 5, 6, 7), (4, 3, 3, 3, 3), 1, (1, 1, 1), (1, 1, 1), (1, 1, 1, 1, 1, 1)),
    ((2, 4, 7, 6, 8), (6, 2, 3, 2, 3), 2, (2, 1, 2), (1, 2, 1), (1, 0, 2, 1, 0, 1)),  # groups, asymmetric
    ((1, 4, 6, 6, 6), (8, 1, 2, 3, 2), 4, (1, 2, 1), (2, 1, 1), (0, 0, 0, 0, 0, 0)),  # depthwise x2
]


@pytest.mark.parametrize("case", CONV3D_CASES, ids=[f"c{i}" for i in range(len(CONV3D_CASES))])
def test_convolution3d_custom_padding(case):
    shape, wshape, groups, stride, dilation, pads = case
    x, w, b = rand(*shape, seed=1), rand(*wshape, seed=2), rand(wshape[0], seed=3)
    y = run_one({"x": x}, _add_conv3d(w, b, groups, stride, dilation, "custom", pads))
    # CUSTOM: the front/back, top/bottom, left/right zeros, then a plain cross-correlation
    padded = F.pad(torch.from_numpy(x), (pads[4], pads[5], pads[2], pads[3], pads[0], pads[1]))
    ref = F.conv3d(padded, torch.from_numpy(w), torch.from_numpy(b), stride, 0, dilation, groups)
    assert_matches(y, ref, tolerance=1e-5)


def test_convolution3d_same_padding_puts_the_odd_zero_at_the_back():
    # the proto's example: [1, 3, 3, 8, 8], stride 2, kernel 3, SAME -> pads [1, 1, 0, 1, 0, 1], [1, 2, 2, 4, 4]
    x, w = rand(1, 3, 3, 8, 8, seed=4), rand(2, 3, 3, 3, 3, seed=5)
    y = run_one({"x": x}, _add_conv3d(w, None, 1, (2, 2, 2), (1, 1, 1), "same"))
    ref = F.conv3d(F.pad(torch.from_numpy(x), (0, 1, 0, 1, 1, 1)), torch.from_numpy(w), stride=2)
    assert y.shape == (1, 2, 2, 4, 4)
    assert_matches(y, ref, tolerance=1e-5)


def test_convolution3d_valid_drops_the_partial_window():
    x, w = rand(1, 2, 6, 7, 5, seed=6), rand(3, 2, 2, 3, 2, seed=7)
    y = run_one({"x": x}, _add_conv3d(w, None, 1, (2, 2, 2), (1, 1, 1), "valid"))
    assert_matches(y, F.conv3d(torch.from_numpy(x), torch.from_numpy(w), stride=2), tolerance=1e-5)


def test_convolution3d_deconvolution_is_refused():
    from bridgec.backends.coreml.executor.errors import UnsupportedLayerError

    x, w = rand(1, 2, 3, 3, 3, seed=8), rand(2, 2, 2, 2, 2, seed=9)

    def add(builder):
        _add_conv3d(w, None, 1, (1, 1, 1), (1, 1, 1), "valid")(builder)
        builder.spec.neuralNetwork.layers[-1].convolution3d.isDeconvolution = True

    with pytest.raises(UnsupportedLayerError, match="deconvolution"):
        run_one({"x": x}, add)
