"""Property: Shape, ConstantOfShape and Range, both formats, against onnxruntime.

Shape takes every start/end (negative, past either end); ConstantOfShape gets its shape at run time
(an int64 tensor cast from a float input, as a Shape would give it) or as a constant, and a value of
each dtype; Range counts up and down, in whole and fractional steps, with limits that land exactly on
a step (where float rounding decides the length), its operands constants or computed at run time.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import numpy_helper

from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, In, prove, run_case, shapes


@st.composite
def shape_cases(draw) -> Case:
    shape = draw(shapes((1, 5), (1, 5)), label="shape")
    bounds = st.one_of(st.none(), st.integers(-len(shape) - 2, len(shape) + 2))
    attrs = {name: value for name in ("start", "end") if (value := draw(bounds, label=name)) is not None}
    return Case("Shape", [In(shape)], attrs)


_FILL_DTYPES = [np.float32, np.float32, np.int64, np.int32, np.bool_, np.float16, np.float64]


def _fixed_feed(values: list[np.ndarray | None]):
    """A feed giving the graph inputs, in order, these values (None: random normal data)."""
    order = itertools.cycle(values)

    def feed(rng, shape, dtype):
        value = next(order)
        return rng.standard_normal(shape) if value is None else np.asarray(value, np.float32).reshape(shape)

    return feed


@st.composite
def constant_of_shape_cases(draw) -> Case:
    target = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=5), label="target shape"))
    attrs = {}
    if draw(st.integers(0, 3), label="value given"):
        dtype = draw(st.sampled_from(_FILL_DTYPES), label="value dtype")
        value = draw(st.sampled_from([0.0, 1.0, -2.5, 3.75, 1e-3, 7.0]), label="value")
        attrs["value"] = numpy_helper.from_array(np.asarray([value]).astype(dtype), "value")
    if draw(st.booleans(), label="shape at run time"):
        return Case(
            "ConstantOfShape",
            [In((len(target),), np.int64, from_float=True)],
            attrs,
            feed=_fixed_feed([np.asarray(target)]),
        )
    return Case(
        "ConstantOfShape", [In((len(target),), np.int64, np.asarray(target, np.int64))], attrs, spare=(1,)
    )


@st.composite
def range_cases(draw) -> Case:
    dtype = draw(st.sampled_from([np.float32, np.float32, np.int64, np.int32]), label="dtype")
    count = draw(st.integers(1, 8), label="count")
    if dtype is np.float32:
        start = draw(st.sampled_from([0.0, -2.0, 1.5, 0.1, -0.35, 3.0]), label="start")
        delta = draw(st.sampled_from([1.0, -1.0, 0.5, -0.5, 0.1, -0.1, 0.3, -0.7, 1.5, 2.0]), label="delta")
        # on a step (the length hangs on rounding), or a fraction of a step past it
        past = draw(st.sampled_from([0.0, 0.0, 0.25, 0.5, 0.9]), label="past the last step")
        limit = float(np.float32(start) + np.float32(delta) * np.float32(count - 1 + (past or 1.0)))
    else:
        start = draw(st.integers(-5, 5), label="start")
        delta = draw(st.sampled_from([1, -1, 2, -2, 3, -3]), label="delta")
        limit = start + delta * count - draw(st.integers(0, abs(delta) - 1), label="short") * np.sign(delta)
    values = [start, limit, delta]
    runtime = draw(st.lists(st.booleans(), min_size=3, max_size=3), label="computed at run time")
    inputs, fed = [], []
    for value, at_run_time in zip(values, runtime, strict=True):
        if at_run_time:  # a runtime scalar comes in as a 1-element tensor (Core ML inputs have a rank)
            inputs.append(In((1,), dtype, from_float=dtype is not np.float32))
            fed.append(np.asarray([value]))
        else:
            inputs.append(In((), dtype, np.asarray(value, dtype)))
    spare = None if any(runtime) else (1,)
    return Case("Range", inputs, feed=_fixed_feed(fed) if fed else None, spare=spare)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_shape(format, data):
    prove(data, shape_cases(), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_constant_of_shape(format, data):
    prove(data, constant_of_shape_cases(), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_range(format, data):
    prove(data, range_cases(), format)


@pytest.mark.parametrize("format", FORMATS)
def test_range_counts_like_onnx_in_float32(format):
    """Range(0, 0.6f, 0.1f): ONNX counts ceil(0.6f / 0.1f) = 6 elements in double; a float32 count
    (np.arange on float32 constants, once the ML Program fold) makes 7."""
    f32 = np.float32
    case = Case(
        "Range",
        [In((), f32, np.array(0.0, f32)), In((), f32, np.array(0.6, f32)), In((), f32, np.array(0.1, f32))],
        spare=(1,),
    )
    assert run_case(case, format, FORMATS[format][0]).kind == "matched"
