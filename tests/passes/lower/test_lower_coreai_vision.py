"""The rules the vision models need where Core AI lacks an op: hardswish/hardsigmoid as Max and Min
(no clip), ReduceL2 as ReduceSum (F.normalize),
InstanceNormalization as its moments (GroupNorm(1)). Each fires for Core AI, keeps the numbers
(onnxruntime, then Apple's runtime), and leaves a Core ML format's node alone."""

from __future__ import annotations

import pytest

from tests.passes.lower.legalize_cases import MLP, NN, assert_core_ai_rule_fires, assert_rule_does_not_fire

HEAD = '<ir_version: 9, opset_import: ["" : 18, "ai.bridgec" : 1]>'


def _model(inputs: str, outputs: str, body: str) -> str:
    return f"{HEAD} g ({inputs}) => ({outputs}) {{\n {body}\n}}"


# name: (graph, pass id, rule, op types after)
CASES = {
    "hardswish": (
        _model("float[2,9] x", "float[2,9] y", "y = ai.bridgec.HardSwish (x)"),
        "lower::kept_activations",
        "hardswish_to_max_min",
        ["Add", "Div", "Max", "Min", "Mul"],
    ),
    "hardsigmoid": (
        _model(
            "float[2,9] x",
            "float[2,9] y",
            "y = ai.bridgec.HardSigmoid <alpha: float = 0.25, beta: float = 0.4> (x)",
        ),
        "lower::kept_activations",
        "hardsigmoid_to_max_min",
        ["Add", "Max", "Min", "Mul"],
    ),
    "reduce_l2": (
        _model(
            "float[2,4,6] x",
            "float[2,1,6] y",
            "a = Constant <value = int64[1] {1}> ()\n y = ReduceL2 (x, a)",
        ),
        "lower::reduce",
        "reduce_l2_to_sum_sqrt",
        ["Mul", "ReduceSum", "Sqrt"],
    ),
    "reduce_l2_opset17": (
        '<ir_version: 9, opset_import: ["" : 17]> g (float[2,4,6] x) => (float[2,6] y) '
        "{ y = ReduceL2 <axes = [-2], keepdims = 0> (x) }",
        "lower::reduce",
        "reduce_l2_to_sum_sqrt",
        ["Mul", "ReduceSum", "Sqrt"],
    ),
    "reduce_sum_square_all": (
        _model("float[2,4,6] x", "float[] y", "y = ReduceSumSquare <keepdims = 0> (x)"),
        "lower::reduce",
        "reduce_sum_square_to_sum",
        ["Mul", "ReduceSum"],
    ),
    "instance_norm": (
        _model(
            "float[2,3,5,4] x",
            "float[2,3,5,4] y",
            "s = Constant <value = float[3] {1, 2, -0.5}> ()\n"
            " b = Constant <value = float[3] {0.5, 0, -1}> ()\n"
            " y = InstanceNormalization <epsilon = 0.001> (x, s, b)",
        ),
        "lower::instancenorm",
        "instancenorm_to_moments",
        ["Add", "Add", "Div", "Mul", "Mul", "ReduceMean", "ReduceMean", "Sqrt", "Sub"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_fires_for_core_ai_and_keeps_the_numbers(case, tmp_path):
    text, pass_id, rule, expected = CASES[case]
    assert_core_ai_rule_fires(text, pass_id, rule, expected, tmp_path)


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("case", ["hardsigmoid", "instance_norm"])
def test_core_ml_takes_the_node_as_it_is(case, fmt):
    text, pass_id, _, _ = CASES[case]
    assert_rule_does_not_fire(text, fmt, pass_id)
