"""Comparisons, boolean logic and Where as ML Program ops, against onnxruntime."""

from __future__ import annotations

import pytest

from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, graph

TWO = "float[2,3,4,5] x, float[1,3,1,5] z"

CASES = {
    "where_greater": ("c = Greater (x, z)\n y = Where (c, x, z)", ("greater", "select")),
    "where_less_const": (
        "k = Constant <value = float {0.0}> ()\n c = Less (x, k)\n y = Where (c, k, x)",
        ("less", "select"),
    ),
    "equal_not": (
        "r = Relu (x)\n k = Constant <value = float {0.0}> ()\n e = Equal (r, k)\n n = Not (e)\n y = Where (n, x, z)",
        ("equal", "logical_not"),
    ),
    "and_or": (
        "a = Greater (x, z)\n b = LessOrEqual (x, z)\n c = GreaterOrEqual (x, z)\n o = Or (a, b)\n"
        " n = And (o, c)\n y = Where (n, x, z)",
        ("logical_or", "logical_and"),
    ),
    # the condition broader than both values: select's declared shape must be the broadcast of all three
    "where_scalar_values": (
        "k = Constant <value = float {0.0}> ()\n m = Constant <value = float {-2.0}> ()\n"
        " c = Greater (x, k)\n y = Where (c, m, k)",
        ("select", "greater"),
    ),
    "where_narrow_values": (
        "k = Constant <value = float[1,1,1,1] {0.5}> ()\n c = Greater (x, k)\n y = Where (c, z, k)",
        ("select", "tile"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_logic(case):
    body, mil_ops = CASES[case]
    check(graph(body, inputs=TWO), mil_ops)
