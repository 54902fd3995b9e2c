"""Elementwise arithmetic and math as ML Program ops, against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, graph, target

TWO = "float[2,3,4,5] x, float[1,3,1,5] z"
POSITIVE = {"x": np.random.default_rng(0).uniform(0.5, 2.0, (2, 3, 4, 5)).astype(np.float32)}
# inside asin's, acos's and atanh's domain, away from tan's poles
UNIT = {"x": np.random.default_rng(0).uniform(-0.9, 0.9, (2, 3, 4, 5)).astype(np.float32)}

CASES = {
    "add": ("y = Add (x, z)", ("add",), TWO, None),
    "sub": ("y = Sub (x, z)", ("sub",), TWO, None),
    "mul": ("y = Mul (x, z)", ("mul",), TWO, None),
    "div": ("y = Div (x, z)", ("real_div",), TWO, {"z": np.full((1, 3, 1, 5), 1.5, np.float32)}),
    "add_const": ("c = Constant <value = float {2.5}> ()\n y = Add (c, x)", ("add",), None, None),
    "pow_const": ("c = Constant <value = float {3.0}> ()\n y = Pow (x, c)", ("pow",), None, None),
    "pow_int_exponent": ("c = Constant <value = int64 {2}> ()\n y = Pow (x, c)", ("pow",), None, None),
    "sqrt": ("y = Sqrt (x)", ("sqrt",), None, POSITIVE),
    "exp": ("y = Exp (x)", ("exp",), None, None),
    "log": ("y = Log (x)", ("log",), None, POSITIVE),
    "abs": ("y = Abs (x)", ("abs",), None, None),
    "neg": ("y = Neg (x)", ("mul",), None, None),
    "reciprocal": ("y = Reciprocal (x)", ("real_div",), None, POSITIVE),
    "erf": ("y = Erf (x)", ("erf",), None, None),
    "floor_ceil": ("a = Floor (x)\n b = Ceil (x)\n y = Add (a, b)", ("floor", "ceil"), None, None),
    "min3": ("c = Constant <value = float {0.1}> ()\n y = Min (x, z, c)", ("minimum",), TWO, None),
    "max2": ("y = Max (x, z)", ("maximum",), TWO, None),
    "max1": ("y = Max (x)", (), None, None),
    **{
        op.lower(): (f"y = {op} (x)", (op.lower(),), None, UNIT)
        for op in ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Atanh")
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_elementwise(case):
    body, mil_ops, inputs, given = CASES[case]
    g = graph(body, inputs=inputs or "float[2,3,4,5] x")
    feeds = {
        t.name: np.random.default_rng(1).standard_normal(tuple(t.shape)).astype(np.float32) for t in g.inputs
    }
    feeds.update(given or {})
    # exp turns fp16's rounding of its input (2^-11 of |x|) into a relative error of |x| 2^-11: 2e-3 at |x| ~ 4
    check(g, mil_ops, feeds=feeds, **({"fp16_tolerance": 2e-3} if case == "exp" else {}))


def test_integer_mod_and_div():
    """Integer arithmetic: Mod takes the divisor's sign (lower::mod's |x| and sign form: MIL's mod
    does not document its sign for a negative operand); Div truncates toward 0,
    which MIL's floor_div does not for negative quotients: refused on run-time values, folded where
    the values are known when building (shape arithmetic)."""
    from bridgec.backends.coreml import mlprogram_ops as mil

    body = (
        "k = Constant <value = float {4.0}> ()\n s = Mul (x, k)\n i = Cast <to = 6> (s)\n"
        " d = Constant <value = int32 {3}> ()\n m = Mod (i, d)\n y = Cast <to = 1> (m)"
    )
    # quarters: 4x is an exact integer in fp16 too, so both precisions cast the same ints
    quarters = np.random.default_rng(0).integers(-12, 13, (2, 3, 4, 5)) / 4
    check(graph(body), ("mod",), feeds={"x": quarters.astype(np.float32)})
    div = graph(body.replace("m = Mod (i, d)", "m = Div (i, d)"))
    node = next(n for n in div.nodes if n.op == "Div")
    assert "truncates" in mil.lookup(node).check(node, target())


def test_integer_div_of_shape_arithmetic_truncates():
    # (W - 10) / 2 and W / -2 with W = 5 are -2.5: ONNX truncates to -2, floor_div would give -3
    body = (
        " s = Shape (x)\n w = Gather <axis = 0> (s, zero)\n n = Sub (w, ten)\n q = Div (n, two)\n"
        " r = Div (w, mtwo)\n qr = Concat <axis = 0> (q, r)\n f = Cast <to = 1> (qr)\n y = Add (x, f)"
    )
    consts = (
        " zero = Constant <value = int64[1] {0}> ()\n ten = Constant <value = int64[1] {10}> ()\n"
        " two = Constant <value = int64[1] {2}> ()\n mtwo = Constant <value = int64[1] {-2}> ()\n"
    )
    g = graph(consts + body, inputs="float[5,2] x")
    check(g, ())
