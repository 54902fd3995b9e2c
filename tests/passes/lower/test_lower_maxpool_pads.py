"""lower::maxpool_pads: a MaxPool whose windows reach padding the target fills with zeros (a
NeuralNetwork's Pooling3D) as a -inf Pad and the same windows unpadded; nowhere else."""

from __future__ import annotations

import pytest

from tests.passes.lower.legalize_cases import MLP, NN, assert_rule_does_not_fire, assert_rule_fires


def model(body: str, x: str, y: str) -> str:
    return f'<ir_version: 9, opset_import: ["" : 18]> g (float[{x}] x) => (float[{y}] y) {{\n {body}\n}}'


# name: (graph): all 3-D MaxPools a NeuralNetwork refuses as they are
CASES = {
    "asymmetric_pads": model(
        "y = MaxPool <kernel_shape = [3, 2, 3], strides = [2, 1, 2], pads = [1, 0, 2, 1, 1, 0]> (x)",
        "1,2,7,6,8",
        "1,2,4,6,5",
    ),
    # the ceil_mode window past the pads: padded to its reach, floor mode gives the same windows
    "ceil_mode_pads": model(
        "y = MaxPool <kernel_shape = [2, 2, 2], strides = [2, 2, 2], pads = [1, 1, 1, 1, 1, 1], ceil_mode = 1> (x)",
        "1,2,5,6,7",
        "1,2,3,4,4",
    ),
    "ceil_mode_no_pads": model(
        "y = MaxPool <kernel_shape = [3, 3, 3], strides = [2, 2, 2], ceil_mode = 1> (x)",
        "2,3,8,6,7",
        "2,3,4,3,3",
    ),
    "same_lower": model(
        'y = MaxPool <kernel_shape = [3, 2, 3], strides = [2, 2, 1], auto_pad = "SAME_LOWER"> (x)',
        "1,2,7,6,5",
        "1,2,4,3,5",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_form_and_numbers(case):
    # the feeds are standard normal x 3: negative windows, where a zero pad would show
    assert_rule_fires(CASES[case], NN, "lower::maxpool_pads", "maxpool_pads_as_neg_inf", ["MaxPool", "Pad"])


# name: (graph, format): the format takes the node as it is
NATIVE = {
    "unpadded_3d_neuralnetwork": (
        model("y = MaxPool <kernel_shape = [2, 2, 2], strides = [2, 2, 2]> (x)", "1,2,6,6,6", "1,2,3,3,3"),
        NN,
    ),
    # end pads no window reaches: the zeros Pooling3D adds are never compared
    "unreached_end_pads_3d_neuralnetwork": (
        model(
            "y = MaxPool <kernel_shape = [2, 2, 2], strides = [2, 2, 2], pads = [0, 0, 0, 1, 1, 1]> (x)",
            "1,2,6,6,6",
            "1,2,3,3,3",
        ),
        NN,
    ),
    "padded_2d_neuralnetwork": (
        model("y = MaxPool <kernel_shape = [3, 3], pads = [1, 1, 1, 1]> (x)", "1,2,6,6", "1,2,6,6"),
        NN,
    ),
    "padded_3d_mlprogram": (
        model(
            "y = MaxPool <kernel_shape = [3, 3, 3], pads = [1, 1, 1, 1, 1, 1]> (x)", "1,2,5,5,5", "1,2,5,5,5"
        ),
        MLP,
    ),
}


@pytest.mark.parametrize("case", NATIVE)
def test_rule_does_not_fire_where_the_format_takes_the_node(case):
    text, fmt = NATIVE[case]
    assert_rule_does_not_fire(text, fmt, "lower::maxpool_pads")


def test_indices_output_is_left_alone():
    # Indices count positions in the unpadded input: no padded form keeps them
    text = (
        '<ir_version: 9, opset_import: ["" : 18]> g (float[1,2,5,5,5] x) => (float[1,2,5,5,5] y, '
        "int64[1,2,5,5,5] i) {\n y, i = MaxPool <kernel_shape = [3, 3, 3], pads = [1, 1, 1, 1, 1, 1]> (x)\n}"
    )
    assert_rule_does_not_fire(text, NN, "lower::maxpool_pads")
