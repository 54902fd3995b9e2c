"""Conv and ConvTranspose as MIL conv / conv_transpose (explicit pads), against onnxruntime."""

from __future__ import annotations

import pytest

from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, freeze, graph

CONV = {
    "pads": ("pads = [1, 1, 1, 1]", "[1,3,9,9]", "[4,3,3,3]"),
    "asymmetric_pads_stride": ("pads = [0, 1, 2, 1], strides = [2, 2]", "[1,3,9,9]", "[4,3,3,3]"),
    "same_upper": ('auto_pad = "SAME_UPPER", strides = [2, 2]', "[1,3,9,10]", "[4,3,3,3]"),
    "same_lower": ('auto_pad = "SAME_LOWER", strides = [2, 2]', "[1,3,9,10]", "[4,3,4,4]"),
    "dilated_grouped": ("dilations = [2, 2], group = 3, pads = [2, 2, 2, 2]", "[1,6,8,8]", "[6,2,3,3]"),
    "depthwise": ("group = 4, pads = [1, 1, 1, 1]", "[1,4,8,8]", "[4,1,3,3]"),
    "conv1d": ("pads = [1, 0], strides = [2]", "[2,3,11]", "[5,3,3]"),
    "conv3d": ("pads = [1, 1, 1, 1, 1, 1]", "[1,2,4,5,6]", "[3,2,3,3,3]"),
}


@pytest.mark.parametrize("case", sorted(CONV))
def test_conv(case):
    attrs, x, w = CONV[case]
    channels = int(w.strip("[]").split(",")[0])
    g = graph(f"y = Conv <{attrs}> (x, w, b)", inputs=f"float{x} x, float{w} w, float[{channels}] b")
    check(freeze(g, w=None, b=None), ("conv",))


def test_conv_without_bias_and_variable_weight_refused():
    from bridgec.backends.coreml import mlprogram_ops as mil

    check(freeze(graph("y = Conv (x, w)", inputs="float[1,3,6,6] x, float[2,3,1,1] w"), w=None), ("conv",))
    node = graph("y = Conv (x, w)", inputs="float[1,3,6,6] x, float[2,3,1,1] w").nodes[0]
    assert "constant" in mil.lookup(node).check(node, None)


CONV_T = {
    "stride2": ("strides = [2, 2]", "[1,4,5,5]", "[4,3,3,3]"),
    "pads_output_padding": (
        "strides = [2, 2], pads = [1, 1, 1, 1], output_padding = [1, 1]",
        "[1,4,5,5]",
        "[4,3,3,3]",
    ),
    "grouped": ("strides = [2, 2], group = 2, pads = [0, 1, 0, 1]", "[1,4,5,6]", "[4,3,2,2]"),
    "dilated": ("dilations = [2, 2]", "[1,2,4,4]", "[2,3,3,3]"),
    # output_padding past the full map: output_shape with nothing cropped at the begin
    "output_padding_no_pads": ("strides = [3, 2], output_padding = [2, 1]", "[1,2,4,5]", "[2,3,3,3]"),
    "output_padding_dilated": (
        "strides = [2, 2], dilations = [2, 1], pads = [0, 0, 0, 1], output_padding = [1, 1]",
        "[1,2,4,5]",
        "[2,3,3,3]",
    ),
    "same_upper": ('strides = [2, 2], auto_pad = "SAME_UPPER"', "[1,2,4,5]", "[2,3,4,3]"),
    "same_lower": ('strides = [2, 2], auto_pad = "SAME_LOWER"', "[1,2,4,5]", "[2,3,4,3]"),
    "output_shape": ("strides = [2, 2], output_shape = [8, 10]", "[1,2,4,5]", "[2,3,3,3]"),
}


@pytest.mark.parametrize("case", sorted(CONV_T))
def test_conv_transpose(case):
    attrs, x, w = CONV_T[case]
    groups = 2 if "group" in attrs else 1
    channels = int(w.strip("[]").split(",")[1]) * groups
    g = graph(f"y = ConvTranspose <{attrs}> (x, w, b)", inputs=f"float{x} x, float{w} w, float[{channels}] b")
    check(freeze(g, w=None, b=None), ("conv_transpose",))


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ("strides = [2, 2], output_shape = [12, 12]", "larger than the full deconvolution"),
        # the extra row needs output_shape, whose placement next to a begin crop MIL does not document
        ("strides = [2, 2], pads = [1, 0, 1, 0], output_padding = [1, 1]", "begin padding"),
    ],
)
def test_conv_transpose_refused(attrs, reason):
    from bridgec.backends.coreml import mlprogram_ops as mil

    g = graph(f"y = ConvTranspose <{attrs}> (x, w)", inputs="float[1,2,4,5] x, float[2,3,3,3] w")
    node = freeze(g, w=None).nodes[0]
    assert reason in mil.lookup(node).check(node, None)
