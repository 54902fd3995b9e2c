"""lower::conv_parts (a Conv's padding as a Pad, its bias as an Add) and lower::gemm (Gemm as MatMul
and Add), where Core AI's conv2d / batch_matmul lack them; nowhere a Core ML format takes the node."""

from __future__ import annotations

import numpy as np
import pytest

from tests.passes.lower.legalize_cases import MLP, NN, assert_core_ai_rule_fires, assert_rule_does_not_fire

HEAD = '<ir_version: 9, opset_import: ["" : 18]>'


def _model(inputs: str, outputs: str, body: str, init: str = "") -> str:
    init = f"<{init}>" if init else ""
    return f"{HEAD} g ({inputs}) => ({outputs}) {init} {{\n {body}\n}}"


def _weights(shape, seed=1):
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return ", ".join(f"{v:.6f}" for v in values.reshape(-1))


W = f"float[4,3,3,3] w = {{{_weights((4, 3, 3, 3))}}}"
B = f"float[4] b = {{{_weights((4,), 2)}}}"
W1 = f"float[4,3,3] w1 = {{{_weights((4, 3, 3), 5)}}}"
GW = f"float[5,6] gw = {{{_weights((5, 6), 3)}}}"
GC = f"float[5] gc = {{{_weights((5,), 4)}}}"

# name: (graph, pass id, rule, op types after)
CASES = {
    "pads_and_bias": (
        _model(
            "float[1,3,7,6] x", "float[1,4,7,6] y", "y = Conv <pads = [1, 1, 1, 1]> (x, w, b)", f"{W}, {B}"
        ),
        "lower::conv_parts",
        "conv_bias",
        ["Add", "Conv", "Pad"],
    ),
    "asymmetric_pads_no_bias": (
        _model(
            "float[1,3,7,6] x",
            "float[1,4,4,5] y",
            "y = Conv <pads = [0, 1, 2, 0], strides = [2, 1]> (x, w)",
            W,
        ),
        "lower::conv_parts",
        "conv_pads",
        ["Conv", "Pad"],
    ),
    "bias_only": (
        _model("float[1,3,7,6] x", "float[1,4,5,4] y", "y = Conv (x, w, b)", f"{W}, {B}"),
        "lower::conv_parts",
        "conv_bias",
        ["Add", "Conv"],
    ),
    "conv_1d_pads_and_bias": (  # whisper's conv1d stem
        _model("float[1,3,9] x", "float[1,4,9] y", "y = Conv <pads = [1, 1]> (x, w1, b)", f"{W1}, {B}"),
        "lower::conv_parts",
        "conv_bias",
        ["Add", "Conv", "Pad"],
    ),
    "gemm_transb_bias": (
        _model(
            "float[2,6] x",
            "float[2,5] y",
            "y = Gemm <transB = 1, alpha = 0.5, beta = 2.0> (x, gw, gc)",
            f"{GW}, {GC}",
        ),
        "lower::gemm",
        "gemm_to_matmul_add",
        ["Add", "MatMul"],
    ),
    "gemm_computed_b_transa": (
        _model("float[6,2] x, float[6,5] w", "float[2,5] y", "y = Gemm <transA = 1> (x, w)"),
        "lower::gemm",
        "gemm_to_matmul",
        ["MatMul", "Transpose"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_fires_for_core_ai_and_keeps_the_numbers(case, tmp_path):
    text, pass_id, rule, expected = CASES[case]
    assert_core_ai_rule_fires(text, pass_id, rule, expected, tmp_path)


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("case", ["pads_and_bias", "gemm_transb_bias"])
def test_core_ml_takes_the_node_as_it_is(case, fmt):
    text, pass_id, _, _ = CASES[case]
    assert_rule_does_not_fire(text, fmt, pass_id)
