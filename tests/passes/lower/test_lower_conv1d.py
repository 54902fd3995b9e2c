"""lower::conv1d: 1-D Conv and pooling as the 2-D window over a unit H axis, where the target's
layer is 2-D only (a NeuralNetwork's); an ML Program takes them as they are."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.passes.lower.legalize_cases import (
    MLP,
    NN,
    assert_rule_does_not_fire,
    assert_rule_fires,
    convert_module,
)


def model(body: str, x: str, y: str, inits: str = "") -> str:
    return (
        f'<ir_version: 9, opset_import: ["" : 18]> g (float[{x}] x) => (float[{y}] y) {inits}{{\n {body}\n}}'
    )


def _floats(name: str, shape: tuple[int, ...], seed: int) -> str:
    values = np.random.default_rng(seed).standard_normal(shape).round(3).reshape(-1)
    return f"float[{','.join(map(str, shape))}] {name} = {{{', '.join(map(str, values))}}}"


W = _floats("w", (4, 3, 3), 1)
WG = _floats("w", (6, 2, 3), 2)
B = _floats("b", (4,), 3)
WT = _floats("w", (3, 2, 4), 5)  # ConvTranspose: (C_in, C_out / group, K)

# name: (graph, the rule, op types after it), all for a NeuralNetwork
CASES = {
    "conv_stride_dilation_pads_bias": (
        model(
            "y = Conv <strides = [2], dilations = [2], pads = [1, 2]> (x, w, b)",
            "2,3,11",
            "2,4,5",
            f"<{W}, {B}> ",
        ),
        "conv1d_to_conv2d",
        ["Conv", "Squeeze", "Unsqueeze"],
    ),
    "conv_groups_no_bias": (
        model("y = Conv <group = 2, kernel_shape = [3]> (x, w)", "1,4,9", "1,6,7", f"<{WG}> "),
        "conv1d_to_conv2d",
        ["Conv", "Squeeze", "Unsqueeze"],
    ),
    "conv_same_upper": (
        model('y = Conv <auto_pad = "SAME_UPPER", strides = [2]> (x, w)', "1,3,10", "1,4,5", f"<{W}> "),
        "conv1d_to_conv2d",
        ["Conv", "Squeeze", "Unsqueeze"],
    ),
    "conv_transpose_stride_pads_output_padding_bias": (
        model(
            "y = ConvTranspose <strides = [3], pads = [1, 2], output_padding = [1]> (x, w, b)",
            "2,3,6",
            "2,2,17",
            f"<{WT}, {_floats('b', (2,), 6)}> ",
        ),
        "conv_transpose1d_to_2d",
        ["ConvTranspose", "Squeeze", "Unsqueeze"],
    ),
    "conv_transpose_groups_output_shape": (
        model(
            "y = ConvTranspose <group = 3, strides = [2], output_shape = [12]> (x, w)",
            "1,3,6",
            "1,6,12",
            f"<{_floats('w', (3, 2, 3), 7)}> ",
        ),
        "conv_transpose1d_to_2d",
        ["ConvTranspose", "Squeeze", "Unsqueeze"],
    ),
    "conv_transpose_same_upper": (
        model(
            'y = ConvTranspose <auto_pad = "SAME_UPPER", strides = [2]> (x, w)', "1,3,5", "1,2,10", f"<{WT}> "
        ),
        "conv_transpose1d_to_2d",
        ["ConvTranspose", "Squeeze", "Unsqueeze"],
    ),
    "maxpool_pads": (
        model("y = MaxPool <kernel_shape = [3], strides = [2], pads = [1, 1]> (x)", "1,3,11", "1,3,6"),
        "pool1d_to_pool2d",
        ["MaxPool", "Squeeze", "Unsqueeze"],
    ),
    "maxpool_ceil": (
        model("y = MaxPool <kernel_shape = [2], strides = [2], ceil_mode = 1> (x)", "1,3,9", "1,3,5"),
        "pool1d_to_pool2d",
        ["MaxPool", "Squeeze", "Unsqueeze"],
    ),
    "avgpool_count_pads": (
        model(
            "y = AveragePool <kernel_shape = [3], strides = [2], pads = [1, 1], count_include_pad = 1> (x)",
            "1,3,10",
            "1,3,5",
        ),
        "pool1d_to_pool2d",
        ["AveragePool", "Squeeze", "Unsqueeze"],
    ),
    "avgpool_exclude_pads": (
        model("y = AveragePool <kernel_shape = [3], strides = [2], pads = [1, 1]> (x)", "1,3,10", "1,3,5"),
        "pool1d_to_pool2d",
        ["AveragePool", "Squeeze", "Unsqueeze"],
    ),
    "global_average": (
        model("y = GlobalAveragePool (x)", "2,3,7", "2,3,1"),
        "pool1d_to_pool2d",
        ["GlobalAveragePool", "Squeeze", "Unsqueeze"],
    ),
    "global_max": (
        model("y = GlobalMaxPool (x)", "2,3,7", "2,3,1"),
        "pool1d_to_pool2d",
        ["GlobalMaxPool", "Squeeze", "Unsqueeze"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_form_and_numbers(case):
    text, rule, expected = CASES[case]
    # onnxruntime's 1-D and 2-D conv kernels may add the same products in another order
    exact = rule not in ("conv1d_to_conv2d", "conv_transpose1d_to_2d")
    assert_rule_fires(text, NN, "lower::conv1d", rule, expected, exact=exact)


# name: (graph, format): the format takes the node as it is
NATIVE = {
    "conv1d_mlprogram": (model("y = Conv (x, w, b)", "2,3,11", "2,4,9", f"<{W}, {B}> "), MLP),
    "conv_transpose1d_mlprogram": (model("y = ConvTranspose (x, w)", "1,3,6", "1,2,9", f"<{WT}> "), MLP),
    "maxpool1d_mlprogram": (model("y = MaxPool <kernel_shape = [3]> (x)", "1,3,11", "1,3,9"), MLP),
    "conv2d_neuralnetwork": (
        model("y = Conv (x, w)", "1,3,5,6", "1,4,5,4", f"<{_floats('w', (4, 3, 1, 3), 4)}> "),
        NN,
    ),
    "global_average_2d_neuralnetwork": (model("y = GlobalAveragePool (x)", "1,3,5,6", "1,3,1,1"), NN),
}


@pytest.mark.parametrize("case", NATIVE)
def test_rule_does_not_fire_where_the_format_takes_the_node(case):
    text, fmt = NATIVE[case]
    assert_rule_does_not_fire(text, fmt, "lower::conv1d")


def test_pooling_with_dilations_is_left_alone():
    # the 2-D form has dilations too, which a NeuralNetwork's pooling cannot take: no legal form
    text = model("y = MaxPool <kernel_shape = [3], dilations = [2]> (x)", "1,3,11", "1,3,7")
    assert_rule_does_not_fire(text, NN, "lower::conv1d")


def _seeded(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for parameter in module.parameters():
        torch.nn.init.normal_(parameter)
    return module


# name: (module, input shape); whisper's encoder opens with two of the first kind
MODULES = {
    "conv1d_whisper_stem": (_seeded(nn.Conv1d(8, 6, 3, padding=1)), (1, 8, 20)),
    "conv1d_stride_dilation": (_seeded(nn.Conv1d(3, 4, 3, stride=2, padding=2, dilation=2)), (1, 3, 17)),
    "conv1d_groups": (_seeded(nn.Conv1d(4, 6, 3, groups=2, bias=False)), (2, 4, 10)),
    "maxpool1d": (nn.MaxPool1d(3, 2, 1), (1, 3, 11)),
    "maxpool1d_ceil": (nn.MaxPool1d(2, 2, ceil_mode=True), (1, 3, 9)),
    "avgpool1d": (nn.AvgPool1d(3, 2, 1), (1, 3, 10)),
    "avgpool1d_exclude": (nn.AvgPool1d(3, 2, 1, count_include_pad=False), (1, 3, 10)),
    "adaptive_avgpool1d_one": (nn.AdaptiveAvgPool1d(1), (1, 3, 10)),
}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("name", MODULES)
def test_torch_module_converts(name, fmt, tmp_path):
    module, shape = MODULES[name]
    rules = convert_module(module, shape, fmt, tmp_path)
    fired = [r for r in rules if r.startswith("lower::conv1d/")]
    assert bool(fired) == (fmt == NN)  # an ML Program's conv and pools take one spatial axis
