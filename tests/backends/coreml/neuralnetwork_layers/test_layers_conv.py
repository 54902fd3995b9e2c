"""ConvTranspose (deconvolution), 3-D Conv (convolution3d) and InstanceNormalization emitters
(neuralnetwork_layers/conv.py) against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)


def weights(shape: tuple[int, ...], seed: int = 0) -> str:
    values = np.random.default_rng(seed).standard_normal(shape).round(3).reshape(-1)
    dims = ",".join(map(str, shape))
    return f"float[{dims}] {{{', '.join(map(str, values))}}}"


def conv_transpose(attrs: str, groups: int = 1, bias: bool = True) -> str:
    w = f"w = Constant <value = {weights((4, 6 // groups, 3, 3))}> ()\n "
    b = f"b = Constant <value = {weights((6,), 1)}> ()\n " if bias else ""
    return w + b + f"y = ConvTranspose <{attrs}> (x, w{', b' if bias else ''})"


# name: (output shape, body)
CASES = {
    "plain": ("[1,6,7,8]", conv_transpose("group = 1")),
    "stride2_pads": ("[1,6,11,13]", conv_transpose("strides = [2, 2], pads = [1, 0, 1, 0]")),
    # output_padding inside the end pads: a smaller end crop, no output shape
    "output_padding": (
        "[1,6,10,12]",
        conv_transpose("strides = [2, 2], pads = [1, 1, 1, 1], output_padding = [1, 1]"),
    ),
    # output_padding past the full map: the output shape grows it (bias-only rows)
    "output_padding_no_pads": ("[1,6,12,14]", conv_transpose("strides = [2, 2], output_padding = [1, 1]")),
    "output_padding_mixed": (
        "[1,6,12,12]",
        conv_transpose("strides = [2, 2], pads = [0, 0, 0, 1], output_padding = [1, 0]"),
    ),
    "asymmetric_pads": ("[1,6,5,7]", conv_transpose("pads = [1, 0, 0, 1]", bias=False)),
    "groups": ("[1,6,7,8]", conv_transpose("group = 2", groups=2)),
    "same_upper": ("[1,6,10,12]", conv_transpose('strides = [2, 2], auto_pad = "SAME_UPPER"')),
    "same_lower": ("[1,6,10,12]", conv_transpose('strides = [2, 2], auto_pad = "SAME_LOWER"')),
    "output_shape": ("[1,6,10,13]", conv_transpose("strides = [2, 2], output_shape = [10, 13]")),
    "valid": ("[1,6,7,8]", conv_transpose('auto_pad = "VALID"')),
}


@pytest.mark.parametrize("target", ["iOS13", "iOS14"])
@pytest.mark.parametrize("case", CASES)
def test_conv_transpose_matches_onnxruntime(case, target):
    out, body = CASES[case]
    kinds = assert_matches_onnxruntime(model_text("float[1,4,5,6] x", f"float{out} y", body, 18), target)
    assert "convolution" in kinds


@pytest.mark.parametrize("target", ["iOS13", "iOS14"])
def test_instance_norm_matches_onnxruntime(target):
    body = (
        "s = Constant <value = float[3] {1.0, 0.5, -2.0}> ()\n b = Constant <value = float[3] {0.1, 0.0, 3.0}> ()\n"
        " y = InstanceNormalization <epsilon = 0.001> (x, s, b)"
    )
    text = model_text("float[2,3,4,5] x", "float[2,3,4,5] y", body, 18)
    kinds = assert_matches_onnxruntime(text, target, lambda x: x * 3 + 1, tolerance=1e-5)
    assert "batchnorm" in kinds


@pytest.mark.parametrize(
    "attrs, reason",
    [
        ("dilations = [2, 2]", "dilation"),
        ("output_shape = [8, 9]", "larger than the full deconvolution"),
        ('strides = [4, 4], auto_pad = "SAME_LOWER"', "larger than the full deconvolution"),
        # an output shape is needed for the extra row, and Core ML then ignores the padding
        ("strides = [2, 2], pads = [1, 0, 1, 0], output_padding = [1, 1]", "begin padding"),
    ],
)
def test_unmappable_conv_transpose_is_refused(attrs, reason):
    text = model_text("float[1,4,5,6] x", "float y", conv_transpose(attrs), 18)
    assert reason in unsupported_reason(text)


def conv3d(attrs: str, w: tuple[int, ...], bias: bool = True) -> str:
    body = f"w = Constant <value = {weights(w, 2)}> ()\n "
    body += f"b = Constant <value = {weights((w[0],), 3)}> ()\n " if bias else ""
    return body + f"y = Conv <{attrs}> (x, w{', b' if bias else ''})"


# name: (input shape, body)
CONV3D = {
    "asymmetric_pads_strides_dilations": (
        "[2,3,7,8,9]",
        conv3d("pads = [1, 0, 2, 0, 1, 1], strides = [2, 1, 2], dilations = [1, 2, 1]", (4, 3, 3, 2, 3)),
    ),
    "groups": ("[1,4,5,6,7]", conv3d("group = 2, pads = [1, 1, 1, 1, 1, 1]", (6, 2, 3, 3, 3))),
    "depthwise_no_bias": ("[1,4,5,6,5]", conv3d("group = 4", (8, 1, 2, 3, 2), bias=False)),
    "same_upper": ("[1,3,7,8,9]", conv3d('auto_pad = "SAME_UPPER", strides = [2, 2, 3]', (4, 3, 2, 3, 3))),
    "same_lower": ("[1,3,7,8,9]", conv3d('auto_pad = "SAME_LOWER", strides = [2, 1, 3]', (4, 3, 2, 3, 2))),
    "valid": ("[1,3,6,7,5]", conv3d('auto_pad = "VALID", strides = [2, 2, 2]', (2, 3, 3, 2, 2))),
}


@pytest.mark.parametrize("case", CONV3D)
def test_conv3d_matches_onnxruntime(case):
    shape, body = CONV3D[case]
    kinds = assert_matches_onnxruntime(
        model_text(f"float{shape} x", "float y", body, 18), "iOS14", tolerance=1e-6
    )
    assert kinds == {"convolution3d": 1}


def test_conv3d_needs_ios14():
    text = model_text("float[1,3,5,5,5] x", "float y", conv3d("group = 1", (2, 3, 3, 3, 3)), 18)
    assert "needs iOS14" in unsupported_reason(text, "iOS13")


def test_conv_transpose3d_is_refused_with_the_reason():
    body = f"w = Constant <value = {weights((3, 2, 2, 2, 2))}> ()\n y = ConvTranspose (x, w)"
    text = model_text("float[1,3,4,4,4] x", "float y", body, 18)
    assert "does not define Convolution3D's deconvolution" in unsupported_reason(text)
