"""lower::pad: crops, reflect/edge pads on axes a NeuralNetwork's padding layer does not pad, edge
pads wider than MIL's pad takes, and mode wrap (no layer in either format)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.passes.lower.legalize_cases import (
    MLP,
    NN,
    assert_rule_does_not_fire,
    assert_rule_fires,
    convert_module,
)


def model(body: str, x: str, y: str, opset: int = 18) -> str:
    return f'<ir_version: 9, opset_import: ["" : {opset}]> g (float[{x}] x) => (float[{y}] y) {{\n {body}\n}}'


def pad(pads: list[int], mode: str, value: str = "", axes: list[int] | None = None) -> str:
    lines = [f"p = Constant <value = int64[{len(pads)}] {{{', '.join(map(str, pads))}}}> ()"]
    inputs = "x, p"
    if value:
        lines.append(f"v = Constant <value = float {{{value}}}> ()")
        inputs += ", v"
    if axes is not None:
        lines.append(f"a = Constant <value = int64[{len(axes)}] {{{', '.join(map(str, axes))}}}> ()")
        inputs += ", a" if value else ", , a"
    lines.append(f'y = Pad <mode = "{mode}"> ({inputs})')
    return "\n ".join(lines)


# name: (graph, format, the rule, op types after it)
CASES = {
    "reflect_3d_neuralnetwork": (
        model(pad([0, 0, 2, 1, 1, 0, 0, 1, 2, 2], "reflect"), "1,2,4,5,6", "1,2,7,8,8"),
        NN,
        "pad_leading_axes_to_concat",
        ["Concat", "Pad", "Slice", "Slice"],
    ),
    "edge_channels_neuralnetwork": (
        model(pad([0, 2, 1, 0, 0, 1, 1, 3], "edge"), "2,3,4,5", "2,6,6,8"),
        NN,
        "pad_leading_axes_to_concat",
        ["Concat", "Pad", "Slice", "Slice"],
    ),
    "edge_wider_than_axis_mlprogram": (
        model(pad([3, 4], "edge", axes=[-1]), "2,3,2", "2,3,9"),
        MLP,
        "pad_to_concat",
        ["Concat", "Slice", "Slice"],
    ),
    "wrap_neuralnetwork": (
        model(pad([0, 0, 1, 3, 0, 0, 2, 0], "wrap"), "1,2,4,5", "1,2,7,8", opset=19),
        NN,
        "pad_to_concat",
        ["Concat", "Concat", "Slice", "Slice", "Slice"],
    ),
    "wrap_mlprogram": (
        model(pad([2, 5], "wrap", axes=[2]), "1,2,5", "1,2,12", opset=19),
        MLP,
        "pad_to_concat",
        ["Concat", "Slice", "Slice"],
    ),
    "crop_then_pad_neuralnetwork": (
        model(pad([0, 0, -1, 2, 0, 1, 0, -2], "constant", value="0.5"), "2,3,6,7", "2,4,5,7"),
        NN,
        "pad_crop_to_slice",
        ["Constant", "Pad", "Slice"],
    ),
    "crop_only_mlprogram": (
        model(pad([-1, -2], "constant", axes=[3]), "2,3,6,7", "2,3,6,4"),
        MLP,
        "pad_crop_to_slice",
        ["Slice"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_form_and_numbers(case):
    text, fmt, rule, expected = CASES[case]
    assert_rule_fires(text, fmt, "lower::pad", rule, expected)


# name: (graph, format): the format takes the Pad as it is
NATIVE = {
    "reflect_last_two_neuralnetwork": (
        model(pad([0, 0, 1, 2, 0, 0, 2, 1], "reflect"), "1,2,5,6", "1,2,8,9"),
        NN,
    ),
    "reflect_3d_mlprogram": (
        model(pad([0, 0, 2, 1, 1, 0, 0, 1, 2, 2], "reflect"), "1,2,4,5,6", "1,2,7,8,8"),
        MLP,
    ),
    "asymmetric_value_neuralnetwork": (
        model(pad([0, 1, 0, 0, 0, 2, 1, 3], "constant", value="-1.5"), "1,2,5,6", "1,5,6,9"),
        NN,
    ),
    "asymmetric_value_mlprogram": (
        model(pad([0, 1, 0, 0, 0, 2, 1, 3], "constant", value="-1.5"), "1,2,5,6", "1,5,6,9"),
        MLP,
    ),
    "edge_within_axis_mlprogram": (model(pad([2, 1], "edge", axes=[-1]), "2,3,2", "2,3,5"), MLP),
}


@pytest.mark.parametrize("case", NATIVE)
def test_rule_does_not_fire_where_the_format_takes_the_pad(case):
    text, fmt = NATIVE[case]
    assert_rule_does_not_fire(text, fmt, "lower::pad")


def test_reflect_as_wide_as_the_axis_is_left_alone():
    # ONNX's reflect copies no more than the axis holds less its edge: nothing exact to build
    text = model(pad([0, 0, 0, 0, 0, 0, 3, 0, 0, 0], "reflect"), "1,2,3,5,6", "1,2,6,5,6")
    assert_rule_does_not_fire(text, NN, "lower::pad")


class _Pad(nn.Module):
    def __init__(self, pads: tuple[int, ...], mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        self.pads, self.mode, self.value = pads, mode, value

    def forward(self, x):
        if self.mode == "constant":
            return F.pad(x, self.pads, value=self.value)
        return F.pad(x, self.pads, mode=self.mode)


def _same_conv() -> nn.Module:
    torch.manual_seed(0)  # tf_efficientnetv2's TF "SAME": pad right/bottom by one, then a stride-2 conv
    return nn.Sequential(_Pad((0, 1, 0, 1)), nn.Conv2d(3, 4, 3, stride=2))


# name: (module, input shape, the rules that fire per format)
MODULES = {
    "tf_same_pad_conv": (_same_conv(), (1, 3, 8, 8), {NN: [], MLP: []}),
    "reflect_2d": (_Pad((1, 2, 2, 1), "reflect"), (1, 3, 6, 7), {NN: [], MLP: []}),
    "replicate_1d": (_Pad((1, 2), "replicate"), (1, 3, 6), {NN: [], MLP: []}),
    "value_asymmetric": (_Pad((1, 2, 0, 3, 1, 1), value=-1.5), (1, 3, 5, 6), {NN: [], MLP: []}),
    "reflect_3d": (
        _Pad((1, 2, 1, 1, 2, 0), "reflect"),
        (1, 2, 4, 5, 6),
        {NN: ["lower::pad/pad_leading_axes_to_concat"], MLP: []},
    ),
    "replicate_3d": (
        _Pad((1, 2, 1, 1, 2, 0), "replicate"),
        (1, 2, 4, 5, 6),
        {NN: ["lower::pad/pad_leading_axes_to_concat"], MLP: []},
    ),
    "replicate_wide": (_Pad((5, 4), "replicate"), (1, 3, 2), {NN: [], MLP: ["lower::pad/pad_to_concat"]}),
    "crop": (
        _Pad((-1, 2, 0, -2)),
        (1, 3, 8, 8),
        {NN: ["lower::pad/pad_crop_to_slice"], MLP: ["lower::pad/pad_crop_to_slice"]},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("name", MODULES)
def test_torch_module_converts(name, fmt, tmp_path):
    module, shape, fired = MODULES[name]
    rules = convert_module(module, shape, fmt, tmp_path)
    assert [r for r in rules if r.startswith("lower::pad/")] == fired[fmt]
