"""Property: the unary math emitters (ops/math.py, mil/elementwise.py), the trigonometric and
hyperbolic ones, Pow and Mod, both formats, against onnxruntime.

Feeds reach each op's edges: 0 and its float32 neighbours (Reciprocal's +-inf, Log's -inf), halves
and integers (Floor, Ceil, Sign), negatives where the op makes NaN (Sqrt, Log), a scale past exp's
overflow. Integer inputs (Abs, Neg, Sign, Pow, Mod) arrive as a Cast of a float input, as they
would from a comparison or a Shape in a model. Pow draws negative bases against integer and
fractional exponents, constant or not; Mod draws fmod 0 and 1, integer and float.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._edges import edge_feeds
from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, In, broadcast_of, prove, shapes

UNARY = ("Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Sign", "Erf")
TRIGONOMETRIC = ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")
INTEGER = ("Abs", "Neg", "Sign")  # the unary ops ONNX defines on integers too
_HALVES = (0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1.0, -1.0, -0.0)


def _ints(rng, shape, low=-7, high=8, nonzero=False) -> np.ndarray:
    x = rng.integers(low, high, shape)
    if nonzero:
        x = np.where(x == 0, 1, x)
    return x.astype(np.float32)


@st.composite
def unary_cases(draw, op: str) -> Case:
    shape = draw(shapes())
    if op in INTEGER and draw(st.integers(0, 3), label="integer") == 0:
        case = Case(op, [In(shape, np.int64, from_float=True)])
        case.feed = lambda rng, s, dtype: _ints(rng, s)
        return case
    case = Case(op, [In(shape)])
    case.feed = draw(edge_feeds(_HALVES))
    return case


def _operand(draw, shape, dtype, feed_values: np.ndarray, what: str) -> tuple[In, np.ndarray | None]:
    """A constant (its value) or a run-time input (``feed_values`` fed)."""
    if draw(st.booleans(), label=f"{what} constant"):
        return In(shape, dtype, feed_values.astype(dtype)), None
    if np.dtype(dtype).kind in "iu" or shape == ():  # a scalar comes in as [1], squeezed in the model
        return In(shape, dtype, from_float=True, lift=True), feed_values
    return In(shape), feed_values


def _fixed_feed(values: dict[int, np.ndarray]):
    """The given values for the run-time inputs, in input order (``Case.feeds`` asks in that order,
    once per input, each time it is called)."""
    order = itertools.cycle(sorted(values))

    def feed(rng, shape, dtype):
        return values[next(order)].astype(np.float32)

    return feed


@st.composite
def pow_cases(draw) -> Case:
    shape = draw(shapes())
    e_shape = draw(st.one_of(st.just(shape), st.just(()), broadcast_of(shape)), label="exponent shape")
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    base_kind = draw(st.sampled_from(["float", "float", "int"]), label="base dtype")
    e_kind = draw(st.sampled_from(["integral", "fractional", "mixed", "int64"]), label="exponent")
    if base_kind == "int":
        base = _ints(rng, shape, -4, 5)
    else:
        base = rng.standard_normal(shape) * draw(st.sampled_from([2.0, 1e-3, 10.0]), label="base scale")
        base = np.where(rng.random(shape) < 0.2, 0.0, base).astype(np.float32)
    exps = {
        "integral": [0.0, 1.0, 2.0, 3.0, -1.0, -2.0],
        "fractional": [0.5, 1.5, -0.5, 0.25],
        "mixed": [0.0, 2.0, 3.0, -1.0, 0.5, 1.5, -0.5],
        "int64": [0, 1, 2, 3],
    }[e_kind]
    exponent = rng.choice(np.asarray(exps, np.float32), size=e_shape).astype(np.float32)
    if base_kind == "int":  # integral exponents for an integer base, but for "fractional" (ONNX truncates)
        exponent = exponent if e_kind == "fractional" else np.round(exponent)
        if draw(st.integers(0, 3), label="non-negative") > 0:  # an integer 1/x is 0 in ONNX
            exponent = np.abs(exponent)
    base_dtype = np.int64 if base_kind == "int" else np.float32
    e_dtype = np.int64 if e_kind == "int64" or (base_kind == "int" and e_kind != "fractional") else np.float32
    x, x_feed = _operand(draw, shape, base_dtype, base, "base")
    y, y_feed = _operand(draw, e_shape, e_dtype, exponent, "exponent")
    if x.value is not None and y.value is not None:  # a Core ML model needs an input
        x, x_feed = In(shape, base_dtype, from_float=base_kind == "int"), base
    case = Case("Pow", [x, y])
    case.feed = _fixed_feed({i: v for i, v in enumerate((x_feed, y_feed)) if v is not None})
    return case


@st.composite
def mod_cases(draw) -> Case:
    shape = draw(shapes())
    y_shape = draw(st.one_of(st.just(shape), broadcast_of(shape)), label="divisor shape")
    fmod = draw(st.sampled_from([None, 0, 1]), label="fmod")
    integer = draw(st.booleans(), label="integer") if fmod == 1 else fmod is not None or draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = np.int64 if integer else np.float32
    if integer:
        a, b = _ints(rng, shape, -9, 10), _ints(rng, y_shape, -4, 5, nonzero=True)
    else:
        a = (rng.standard_normal(shape) * 4).astype(np.float32)
        b = rng.choice(np.asarray([-2.5, -1.0, 0.75, 1.0, 3.0], np.float32), size=y_shape)
    x, x_feed = _operand(draw, shape, dtype, a, "dividend")
    y, y_feed = _operand(draw, y_shape, dtype, b, "divisor")
    if x.value is not None and y.value is not None:
        x, x_feed = (In(shape, dtype, from_float=True) if integer else In(shape)), a
    case = Case("Mod", [x, y], {} if fmod is None else {"fmod": fmod})
    case.feed = _fixed_feed({i: v for i, v in enumerate((x_feed, y_feed)) if v is not None})
    return case


CASES = {op: unary_cases(op) for op in UNARY + TRIGONOMETRIC} | {"Pow": pow_cases(), "Mod": mod_cases()}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", CASES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_math(op, format, data):
    prove(data, CASES[op], format)
