"""Property: the reductions (Reduce*, ArgMax/ArgMin, TopK, CumSum), both formats, against onnxruntime.

Axes come as the opset-18 input (constant, absent or empty, with ``noop_with_empty_axes``) or as the
older attribute (opset 13; 11 for ReduceSum, whose axes became an input in 13), negative or not,
some or all of them. The index-producing ops get inputs with ties on purpose (integer-valued floats
from a small range), where first / last index and sort stability decide the answer.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, In, prove, shapes

REDUCE = (
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
)
_ATTRIBUTE_OPSET = {"ReduceSum": 11}  # the last opset with axes as an attribute; 13..17 for the others


def _flag(draw, name: str) -> int | None:
    return draw(st.sampled_from([None, 0, 1]), label=name)


def _ties(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    return rng.integers(-2, 3, shape).astype(np.float32)  # five values: most rows hold a tie


def _positive(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    return (rng.uniform(0.1, 2.0, shape)).astype(np.float32)


def _near_one(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    # products of up to 1024 factors stay in float32's range
    return (rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)).astype(np.float32)


_FEEDS = {"ReduceLogSum": _positive, "ReduceProd": _near_one}


@st.composite
def reduce_cases(draw, op: str) -> Case:
    shape = draw(shapes((1, 5), (1, 4)), label="shape")
    rank = len(shape)
    as_input = draw(st.booleans(), label="axes as input")
    kind = draw(st.sampled_from(["absent", "empty", "all", "some"]), label="axes")
    if kind == "empty" and not as_input:
        kind = "absent"  # an attribute cannot be an empty list
    axes: list[int] | None = None
    if kind == "empty":
        axes = []
    elif kind == "all":
        axes = list(range(rank))
    elif kind == "some":
        axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    if axes:  # each axis as itself or counted from the end
        axes = [a - rank if draw(st.booleans()) else a for a in axes]
    attrs = {}
    keep = _flag(draw, "keepdims")
    if keep is not None:
        attrs["keepdims"] = keep
    inputs = [In(shape)]
    if as_input:
        opset = 18
        noop = _flag(draw, "noop_with_empty_axes")
        if noop is not None:
            attrs["noop_with_empty_axes"] = noop
        if axes is not None:
            inputs.append(In((len(axes),), np.int64, np.asarray(axes, np.int64)))
    else:
        opset = _ATTRIBUTE_OPSET.get(op, 13)
        if axes is not None:
            attrs["axes"] = axes
    return Case(op, inputs, attrs, opset=opset, feed=_FEEDS.get(op))


@st.composite
def arg_cases(draw, op: str) -> Case:
    shape = draw(shapes((1, 5), (1, 5)), label="shape")
    attrs = {}
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis")
    if axis is not None:
        attrs["axis"] = axis
    for name in ("keepdims", "select_last_index"):
        value = _flag(draw, name)
        if value is not None:
            attrs[name] = value
    feed = _ties if draw(st.integers(0, 3), label="ties") else None
    return Case(op, [In(shape)], attrs, feed=feed)


@st.composite
def topk_cases(draw) -> Case:
    shape = draw(shapes((1, 5), (1, 5)), label="shape")
    rank = len(shape)
    axis = draw(st.one_of(st.none(), st.integers(-rank, rank - 1)), label="axis")
    n = shape[-1 if axis is None else axis]
    k = draw(st.sampled_from([1, n, draw(st.integers(1, n))]), label="k")
    attrs = {} if axis is None else {"axis": axis}
    for name in ("largest", "sorted"):
        value = _flag(draw, name)
        if value is not None:
            attrs[name] = value
    feed = _ties if draw(st.integers(0, 3), label="ties") else None
    axis = -1 if axis is None else axis
    canonical = None
    if attrs.get("sorted") == 0:  # "order of returned 'Values' and 'Indices' are undefined": by index

        def canonical(outputs, axis=axis):
            values, indices = outputs
            order = np.argsort(indices, axis=axis, kind="stable")
            return [np.take_along_axis(values, order, axis), np.take_along_axis(indices, order, axis)]

    inputs = [In(shape), In((1,), np.int64, np.asarray([k], np.int64))]
    return Case("TopK", inputs, attrs, outputs=2, feed=feed, canonical=canonical)


@st.composite
def cumsum_cases(draw) -> Case:
    shape = draw(shapes((1, 5), (1, 5)), label="shape")
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1), label="axis")
    dtype = draw(st.sampled_from([np.int64, np.int32]), label="axis dtype")
    form = draw(st.sampled_from([(), (1,), "variable"]), label="axis form")
    if form == "variable":  # computed at run time: the checks must refuse it
        axis_input = In((), dtype, from_float=True)
    else:
        axis_input = In(form, dtype, np.asarray(axis, dtype).reshape(form))
    attrs = {}
    for name in ("exclusive", "reverse"):
        value = _flag(draw, name)
        if value is not None:
            attrs[name] = value
    feed = None
    if form == "variable":
        fixed = itertools.cycle([None, axis])  # x draws normally, the axis input is the drawn axis

        def feed(rng, shape, dtype, fixed=fixed):
            value = next(fixed)
            return (rng.standard_normal(shape) * 2) if value is None else np.asarray(value, np.float32)

    return Case("CumSum", [In(shape), axis_input], attrs, feed=feed)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", REDUCE)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_reduce(op, format, data):
    prove(data, reduce_cases(op), format)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", ("ArgMax", "ArgMin"))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_arg(op, format, data):
    prove(data, arg_cases(op), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_topk(format, data):
    prove(data, topk_cases(), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_cumsum(format, data):
    prove(data, cumsum_cases(), format)
