"""Property: comparisons, boolean logic, Where and Cast, both formats, against onnxruntime.

Comparison operands are integer-valued on purpose (equal values decide ``<`` against ``<=``), float
or int64, broadcast against each other; boolean operands come from a Cast of a float input (as a
comparison would make them in a real model) or are constants. Cast is drawn between float, int and
bool with values that round (halves, negatives) and every ``to`` type ONNX has.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, In, broadcast_of, prove, shapes

COMPARISONS = ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")
LOGICAL = ("And", "Or", "Xor")


def _rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**16)))


def _ties(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    return rng.integers(-2, 3, shape).astype(np.float32)


def _rounding(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Halves, near-halves, negatives and zeros: where truncation, rounding and bool differ."""
    halves = rng.integers(-12, 13, shape) / 2
    nudge = rng.choice([0.0, 0.0, 1e-3, -1e-3, 0.3], shape)
    return (halves + nudge).astype(np.float32)


def _value(draw, shape: tuple[int, ...], dtype, constant: bool) -> In:
    """An operand: a float graph input, another dtype through a Cast of one, or a constant (always
    for a scalar: Core ML model inputs have a rank)."""
    if constant or shape == ():
        rng = _rng(draw)
        if np.dtype(dtype) == np.bool_:
            return In(shape, dtype, rng.integers(0, 2, shape).astype(dtype))
        return In(shape, dtype, rng.integers(-2, 3, shape).astype(dtype))
    return In(shape, dtype, from_float=np.dtype(dtype) != np.float32)


def _spare(inputs: list[In]) -> tuple[int, ...] | None:
    """A graph input the node does not read when every operand is a constant (scalars are)."""
    return (1,) if all(x.value is not None for x in inputs) else None


def _pair_shapes(draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = draw(shapes((1, 4), (1, 4)), label="shape")
    other = draw(st.one_of(st.just(shape), broadcast_of(shape)), label="other shape")
    return (shape, other) if draw(st.booleans(), label="order") else (other, shape)


@st.composite
def comparison_cases(draw, op: str) -> Case:
    a, b = _pair_shapes(draw)
    dtype = draw(st.sampled_from([np.float32, np.float32, np.int64]), label="dtype")
    constant = draw(st.sampled_from([None, 0, 1]), label="constant operand")
    inputs = [_value(draw, shape, dtype, constant == i) for i, shape in enumerate((a, b))]
    feed = _ties if draw(st.integers(0, 3), label="ties") else None
    return Case(op, inputs, feed=feed, spare=_spare(inputs))


@st.composite
def logical_cases(draw, op: str) -> Case:
    a, b = _pair_shapes(draw)
    constant = draw(st.sampled_from([None, 0, 1]), label="constant operand")
    inputs = [_value(draw, shape, np.bool_, constant == i) for i, shape in enumerate((a, b))]
    return Case(op, inputs, spare=_spare(inputs))


@st.composite
def not_cases(draw) -> Case:
    return Case("Not", [In(draw(shapes((1, 5), (1, 4))), np.bool_, from_float=True)])


@st.composite
def where_cases(draw) -> Case:
    shape = draw(shapes((1, 4), (1, 4)), label="shape")
    parts = [draw(st.one_of(st.just(shape), broadcast_of(shape)), label=f"shape {i}") for i in range(3)]
    if not any(len(p) == len(shape) for p in parts):
        parts[draw(st.integers(0, 2))] = shape  # the output shape comes from one of them
    dtype = draw(st.sampled_from([np.float32, np.float32, np.int64]), label="dtype")
    constant = draw(st.sampled_from([None, 0, 1, 2]), label="constant operand")
    inputs = [_value(draw, parts[0], np.bool_, constant == 0)]
    inputs += [_value(draw, parts[i], dtype, constant == i) for i in (1, 2)]
    feed = _ties if draw(st.booleans(), label="ties") else None
    return Case("Where", inputs, feed=feed, spare=_spare(inputs))


T = onnx.TensorProto
_TO = [T.FLOAT, T.DOUBLE, T.FLOAT16, T.INT32, T.INT64, T.INT8, T.INT16, T.UINT8, T.BOOL]


@st.composite
def cast_cases(draw) -> Case:
    shape = draw(shapes((1, 5), (1, 4)), label="shape")
    source = draw(st.sampled_from([np.float32, np.float32, np.int64, np.int32, np.bool_]), label="from")
    to = draw(st.sampled_from(_TO), label="to")
    if source is not np.float32 and to in (T.UINT8,):
        to = T.INT32  # an integer out of uint8's range wraps in onnxruntime; not what is proven here
    feed = _rounding if source is np.float32 else None
    if source is np.float32 and to == T.UINT8:
        feed = lambda rng, shape, dtype: np.abs(_rounding(rng, shape, dtype))  # noqa: E731 - in range
    return Case("Cast", [In(shape, source, from_float=source is not np.float32)], {"to": to}, feed=feed)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", COMPARISONS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_comparison(op, format, data):
    prove(data, comparison_cases(op), format)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", LOGICAL)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_logical(op, format, data):
    prove(data, logical_cases(op), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_not(format, data):
    prove(data, not_cases(), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_where(format, data):
    prove(data, where_cases(), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_cast(format, data):
    prove(data, cast_cases(), format)
