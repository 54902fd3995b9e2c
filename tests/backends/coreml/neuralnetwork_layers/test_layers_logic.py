"""Comparison, logic, Where and Cast emitters (backends/coreml/neuralnetwork_layers/logic.py) against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)

XY = "float[2,3,4,5] x, float[4,5] z"
B = "bool[2,3,4,5] y"


def rounded(x):
    return np.round(x)  # whole numbers, so Equal and the ties of <= >= are exercised


CASES = {
    "equal": (XY, B, "y = Equal (x, z)", rounded),
    "less": (XY, B, "y = Less (x, z)", rounded),
    "less_equal": (XY, B, "y = LessOrEqual (x, z)", rounded),
    "greater": (XY, B, "y = Greater (x, z)", rounded),
    "greater_equal": (XY, B, "y = GreaterOrEqual (x, z)", rounded),
    "greater_constant": (
        "float[2,3,4,5] x",
        B,
        "c = Constant <value = float {0.5}> ()\n y = Greater (x, c)",
        None,
    ),
    "not_and_or_xor": (
        XY,
        "bool[2,3,4,5] y, bool[2,3,4,5] a, bool[2,3,4,5] o, bool[2,3,4,5] e",
        "p = Greater (x, z)\n q = Less (x, z)\n n = Not (p)\n y = Not (n)\n a = And (p, n)\n o = Or (p, q)\n"
        " e = Xor (p, q)",
        rounded,
    ),
    "where": (XY, "float[2,3,4,5] y", "c = Greater (x, z)\n y = Where (c, x, z)", None),
    "cast_trunc": ("float[2,3,4,5] x", "int64[2,3,4,5] y", "y = Cast <to = 7> (x)", lambda x: x * 3),
    "cast_int32_float": (
        "float[2,3,4,5] x",
        "float[2,3,4,5] y",
        "i = Cast <to = 6> (x)\n y = Cast <to = 1> (i)",
        lambda x: x * 3,
    ),
    "cast_bool": ("float[2,3,4,5] x", B, "y = Cast <to = 9> (x)", rounded),
    "cast_bool_to_float": (
        "float[2,3,4,5] x",
        "float[2,3,4,5] y",
        "b = Cast <to = 9> (x)\n y = Cast <to = 1> (b)",
        rounded,
    ),
}


@pytest.mark.parametrize("target", ["iOS13", "iOS14"])
@pytest.mark.parametrize("case", CASES)
def test_emitted_logic_matches_onnxruntime(case, target):
    inputs, outputs, body, feed = CASES[case]
    assert_matches_onnxruntime(model_text(inputs, outputs, body, 18), target, feed)


def test_int_to_int_cast_is_a_copy_and_float_to_int_truncates():
    text = model_text("float[2,3,4,5] x", "int64[2,3,4,5] y", "i = Cast <to = 6> (x)\n y = Cast <to = 7> (i)")
    kinds = assert_matches_onnxruntime(text, "iOS14", lambda x: x * 3)
    assert {"floor", "sign", "activation"} <= set(kinds)


def test_cast_to_a_narrow_type_is_refused():
    text = model_text("float[2,3,4,5] x", "float16[2,3,4,5] y", "y = Cast <to = 10> (x)")
    assert "float32" in unsupported_reason(text)
