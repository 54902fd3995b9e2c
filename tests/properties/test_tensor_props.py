"""Property: the indexing and data-movement ops, both formats, against onnxruntime: Concat, Slice,
Gather, Split (both tables), and the ML Program's CumSum, TopK and ScatterND.

Indices, starts/ends, split sizes are initializers, as the frontends make them (and sometimes a
value computed at run time, which the checks must refuse or emit). Ranks reach 6, which an ML
Program cannot hold: its checks must refuse those, not let the build fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import (
    FORMATS,
    PROPERTY_SETTINGS,
    Case,
    In,
    const,
    feeding,
    ops_of,
    prove,
    runtime,
    shapes,
)

RANKS = (1, 6)  # rank 6: past what an ML Program holds
DIMS = (1, 4)
INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _maybe_negative(draw, axis: int, rank: int) -> int:
    return axis - rank if draw(st.booleans()) else axis


@st.composite
def concat_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1))
    inputs = []
    for _ in range(draw(st.integers(1, 4))):
        own = list(shape)
        own[axis] = draw(st.integers(1, 3))
        if inputs and draw(st.integers(0, 3)) == 0:  # a weight concatenated to a tensor
            rng = np.random.default_rng(draw(st.integers(0, 2**16)))
            inputs.append(const(rng.standard_normal(own), np.float32))
        else:
            inputs.append(In(tuple(own)))
    draw(st.randoms()).shuffle(inputs)
    if all(x.value is not None for x in inputs):
        inputs[0] = In(inputs[0].shape)
    return Case("Concat", inputs, {"axis": axis})


def _bound(draw, dim: int) -> int:
    """Mostly an index in or next to the axis (negative ones count from the back), sometimes one
    of the sentinels exporters write for "to the end" (INT64_MAX / INT64_MIN, also int32's)."""
    if draw(st.integers(0, 4)):
        return draw(st.integers(-dim - 1, dim + 1))
    return draw(st.sampled_from([INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, -(2**31), 2**31]))


@st.composite
def slice_cases(draw) -> Case:
    shape = draw(shapes(RANKS, (1, 6)))
    rank = len(shape)
    axes = draw(st.permutations(range(rank)))[: draw(st.integers(1, rank))]
    explicit_axes = draw(st.integers(0, 2)) > 0 or list(axes) != list(range(len(axes)))
    starts, ends, steps = [], [], []
    for axis in axes:
        dim = shape[axis]
        step = draw(st.sampled_from([1, 1, 2, 3, -1, -1, -2, -3]))
        start, end = _bound(draw, dim), _bound(draw, dim)
        if len(range(*slice(start, end, step).indices(dim))) == 0 and draw(st.integers(0, 3)):
            start, end = end, start  # mostly not empty (ONNX allows it; Core ML has no empty tensors)
        starts.append(start)
        ends.append(end)
        steps.append(step)
    inputs = [In(shape), const(starts), const(ends)]
    if explicit_axes:
        inputs.append(const([_maybe_negative(draw, a, rank) for a in axes]))
    if any(s != 1 for s in steps) or draw(st.booleans()):
        if not explicit_axes:
            inputs.append(In((), absent=True))
        inputs.append(const(steps))
    if draw(st.integers(0, 5)) == 0:  # starts computed at run time
        inputs[1], value = runtime(np.clip(starts, -9, 9))
        return Case("Slice", inputs, feed=feeding(value))
    return Case("Slice", inputs)


@st.composite
def gather_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    rank = len(shape)
    attrs = {}
    axis = 0
    if draw(st.integers(0, 3)):
        axis = draw(st.integers(-rank, rank - 1))
        attrs["axis"] = axis
    dim = shape[axis]
    index_shape = draw(st.sampled_from([(), (1,), (3,), (2, 2), (1, 3)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = draw(st.sampled_from([np.int64, np.int32]))
    indices = rng.integers(-dim, dim, index_shape).astype(dtype)  # negative ones count from the end
    if draw(st.integers(0, 4)) == 0:  # indices computed at run time
        given, value = runtime(indices, dtype)
        return Case("Gather", [In(shape), given], attrs, feed=feeding(value))
    return Case("Gather", [In(shape), const(indices, dtype)], attrs)


@st.composite
def split_cases(draw) -> Case:
    shape = list(draw(shapes(RANKS, DIMS)))
    rank = len(shape)
    attrs = {}
    axis = 0
    if draw(st.integers(0, 3)):
        axis = draw(st.integers(-rank, rank - 1))
        attrs["axis"] = axis
    shape[axis] = draw(st.integers(1, 7))
    dim = shape[axis]
    parts = draw(st.integers(1, min(dim, 4)))
    if draw(st.booleans()):  # opset 18: equal parts, the last one smaller when uneven
        attrs["num_outputs"] = parts
        return Case("Split", [In(tuple(shape))], attrs, outputs=parts)
    cuts = sorted(draw(st.permutations(range(1, dim)))[: parts - 1])  # parts <= dim
    sizes = np.diff([0, *cuts, dim])
    return Case("Split", [In(tuple(shape)), const(sizes)], attrs, outputs=parts)


@st.composite
def cumsum_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    rank = len(shape)
    axis = const(draw(st.integers(-rank, rank - 1)), draw(st.sampled_from([np.int64, np.int32])))
    attrs = {}
    for name in ("exclusive", "reverse"):
        if draw(st.booleans()):
            attrs[name] = draw(st.integers(0, 1))
    return Case("CumSum", [In(shape), axis], attrs)


def _distinct(rng, shape, dtype):
    """No ties: the order of equal values is left open by ONNX."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.5 - 3).astype(dtype)


@st.composite
def topk_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    rank = len(shape)
    attrs = {}
    axis = -1
    if draw(st.booleans()):
        axis = draw(st.integers(-rank, rank - 1))
        attrs["axis"] = axis
    if draw(st.booleans()):
        attrs["largest"] = draw(st.integers(0, 1))
    if draw(st.booleans()):
        attrs["sorted"] = 1  # sorted=0 leaves the order open: nothing to compare
    k = draw(st.integers(1, shape[axis]))
    return Case("TopK", [In(shape), const([k])], attrs, outputs=2, feed=_distinct)


@st.composite
def scatter_nd_cases(draw) -> Case:
    shape = draw(shapes((1, 5), DIMS))
    rank = len(shape)
    depth = draw(st.integers(1, rank))
    reduction = draw(st.sampled_from([None, "none", "add", "mul", "max", "min"]))
    rows = int(np.prod(shape[:depth]))
    count = draw(st.integers(1, min(rows, 4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    # 'none' with a repeated index is left open by ONNX; the reductions accumulate repeats
    flat = rng.choice(rows, count, replace=reduction in ("add", "mul", "max", "min"))
    indices = np.stack(np.unravel_index(flat, shape[:depth]), axis=-1)
    indices = np.where(rng.integers(0, 2, indices.shape) == 1, indices - np.asarray(shape[:depth]), indices)
    lead = draw(st.sampled_from([(count,), (1, count)]))
    indices = indices.reshape(lead + (depth,))
    updates = In(lead + tuple(shape[depth:]))
    attrs = {} if reduction is None else {"reduction": reduction}
    return Case("ScatterND", [In(shape), const(indices), updates], attrs)


CASES = {
    "Concat": concat_cases,
    "Slice": slice_cases,
    "Gather": gather_cases,
    "Split": split_cases,
    "CumSum": cumsum_cases,
    "TopK": topk_cases,
    "ScatterND": scatter_nd_cases,
}

# this family's emitters in each table (other families own the NeuralNetwork CumSum, TopK, ...)
MINE = {
    "neuralnetwork": {*ops_of("neuralnetwork", "shape"), *ops_of("neuralnetwork", "tensor")},
    "mlprogram": {*ops_of("mlprogram", "tensor")},
}
PAIRS = [(op, fmt) for op in CASES for fmt in FORMATS if op in MINE[fmt]]


@pytest.mark.parametrize(("op", "format"), PAIRS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_tensor_op(op, format, data):
    prove(data, CASES[op](), format)
