"""Property: the shape ops, both formats, against onnxruntime: Reshape, Flatten, Transpose, Constant,
Squeeze, Unsqueeze (both tables), and the ML Program's Shape, Size, ConstantOfShape, Range and Cast.

Shapes, axes and perms are initializers, as the frontends make them. Ranks reach 6, which an ML
Program cannot hold: its checks must refuse those, not let the build fail.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import (
    FORMATS,
    PROPERTY_SETTINGS,
    Case,
    Hints,
    In,
    const,
    feeding,
    ops_of,
    prove,
    runtime,
    schema_cases,
    shapes,
)

RANKS = (1, 6)  # rank 6: past what an ML Program holds
DIMS = (1, 4)


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def reshape_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    rank = draw(st.integers(0 if np.prod(shape) == 1 else 1, 6))  # 0: a scalar
    dims = [1] * rank
    for p in _primes(int(np.prod(shape))):  # the same values, regrouped into other axes
        dims[draw(st.integers(0, rank - 1))] *= p  # (no primes when rank is 0)
    target: list[int] = list(dims)
    allowzero = draw(st.sampled_from([None, 0, 1]))
    for i in range(min(rank, len(shape))):
        if target[i] == shape[i] and draw(st.integers(0, 3)) == 0:
            target[i] = 0  # ONNX: copy the input's extent (an empty axis under allowzero=1)
    free = [i for i, d in enumerate(target) if d != 0]
    if free and draw(st.booleans()):
        target[draw(st.sampled_from(free))] = -1  # ONNX: inferred
    attrs = {} if allowzero is None else {"allowzero": allowzero}
    if draw(st.integers(0, 4)) == 0:  # a shape computed at run time
        given, value = runtime(target)
        return Case("Reshape", [In(shape), given], attrs, feed=feeding(value))
    return Case("Reshape", [In(shape), const(target)], attrs)


@st.composite
def transpose_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    attrs = {}
    if draw(st.integers(0, 3)):  # absent: reverse the axes
        attrs["perm"] = list(draw(st.permutations(range(len(shape)))))
    return Case("Transpose", [In(shape)], attrs)


@st.composite
def constant_cases(draw) -> Case:
    """Every value form of ONNX's Constant but sparse_value (which onnxruntime does not run here),
    beside a graph input: a model needs one. The node's output is the graph's output; strings must
    be refused."""
    forms = [
        "value",
        "value_int",
        "value_ints",
        "value_float",
        "value_floats",
        "value_string",
        "value_strings",
    ]
    form = draw(st.sampled_from(forms))
    if form in ("value_string", "value_strings"):
        text = draw(st.sampled_from(["", "a", "bridgec"]))
        return Case("Constant", [], {form: text if form == "value_string" else [text, "b"]}, spare=(2,))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if form == "value":
        shape = draw(shapes((0, 5), DIMS))
        dtype = draw(st.sampled_from([np.float32, np.int64, np.int32]))
        value = (rng.standard_normal(shape) * 3).astype(dtype)
        attr = onnx.numpy_helper.from_array(np.asarray(value), "value")
    elif form == "value_int":
        attr = int(rng.integers(-9, 9))
    elif form == "value_float":
        attr = float(rng.standard_normal())
    elif form == "value_ints":
        attr = [int(v) for v in rng.integers(-9, 9, draw(st.integers(1, 5)))]
    else:
        attr = [float(v) for v in rng.standard_normal(draw(st.integers(1, 5)))]
    return Case("Constant", [], {form: attr}, spare=(2,))


@st.composite
def squeeze_cases(draw) -> Case:
    shape = list(draw(shapes(RANKS, (2, 4))))
    rank = len(shape)
    ones = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    for i in ones:
        shape[i] = 1
    if draw(st.integers(0, 3)) == 0:
        return Case("Squeeze", [In(tuple(shape))])  # no axes: every 1
    axes = draw(st.lists(st.sampled_from(ones), min_size=1, max_size=len(ones), unique=True))
    axes = [a - rank if draw(st.booleans()) else a for a in axes]  # negative, unsorted
    return Case("Squeeze", [In(tuple(shape)), const(axes)])


@st.composite
def unsqueeze_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    out_rank = len(shape) + draw(st.integers(1, 3))
    axes = draw(
        st.lists(
            st.integers(0, out_rank - 1),
            min_size=out_rank - len(shape),
            max_size=out_rank - len(shape),
            unique=True,
        )
    )
    axes = [a - out_rank if draw(st.booleans()) else a for a in axes]  # counted in the output
    return Case("Unsqueeze", [In(shape), const(axes)])


@st.composite
def constant_of_shape_cases(draw) -> Case:
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=6))
    attrs = {}
    if draw(st.booleans()):
        dtype = draw(st.sampled_from([np.float32, np.int64, np.int32, np.bool_]))
        value = np.asarray([draw(st.sampled_from([0, 1, -2, 3]))]).astype(dtype)
        if dtype is np.float32:
            value = value * np.float32(1.5)
        attrs["value"] = onnx.numpy_helper.from_array(value, "value")
    if draw(st.integers(0, 2)) == 0:  # a shape computed at run time
        given, fed = runtime(shape)
        return Case("ConstantOfShape", [given], attrs, feed=feeding(fed))
    return Case("ConstantOfShape", [const(shape)], attrs, spare=(2,))


@st.composite
def range_cases(draw) -> Case:
    dtype = draw(st.sampled_from([np.float32, np.int64, np.int32]))
    start = draw(st.integers(-6, 6))
    delta = draw(st.sampled_from([1, 2, 3, -1, -2]))
    limit = start + delta * draw(st.integers(1, 8)) + draw(st.sampled_from([0, 0, 1, -1]))
    if dtype is np.float32:
        start, limit, delta = start * 0.5, limit * 0.5, delta * draw(st.sampled_from([0.5, 0.25, 0.3]))
    values = [np.asarray(v, dtype) for v in (start, limit, delta)]
    if dtype is not np.float32 and draw(st.integers(0, 2)) == 0:  # one bound computed at run time
        which = draw(st.integers(0, 2))
        inputs = [const(v, dtype) for v in values]
        inputs[which], fed = runtime(values[which], dtype)
        return Case("Range", inputs, feed=feeding(fed))
    return Case("Range", [const(v, dtype) for v in values], spare=(2,))


_CAST_TO = [
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.INT8,
    onnx.TensorProto.UINT8,
    onnx.TensorProto.BOOL,
]


def _cast_feed(rng, shape, dtype):
    """Integers, halves (rounding), zeros (bool) and negatives (unsigned)."""
    return (rng.integers(-6, 7, shape) * rng.choice([0.5, 1.0, 0.37], shape)).astype(dtype)


CASES = {
    "Reshape": lambda: reshape_cases(),
    "Flatten": lambda: schema_cases("Flatten", Hints(ranks=RANKS, dims=DIMS)),
    "Transpose": lambda: transpose_cases(),
    "Constant": lambda: constant_cases(),
    "Squeeze": lambda: squeeze_cases(),
    "Unsqueeze": lambda: unsqueeze_cases(),
    "Shape": lambda: schema_cases("Shape", Hints(ranks=RANKS, dims=DIMS)),
    "Size": lambda: schema_cases("Size", Hints(ranks=RANKS, dims=DIMS)),
    "ConstantOfShape": lambda: constant_of_shape_cases(),
    "Range": lambda: range_cases(),
    "Cast": lambda: schema_cases(
        "Cast", Hints(attrs={"to": _CAST_TO}, ranks=RANKS, dims=DIMS, feed=_cast_feed)
    ),
}

# this family's emitters in each table (other families own e.g. the NeuralNetwork Cast and Range)
MINE = {
    "neuralnetwork": {*ops_of("neuralnetwork", "shape"), *ops_of("neuralnetwork", "tensor")},
    "mlprogram": {*ops_of("mlprogram", "shape")},
}
PAIRS = [(op, fmt) for op in CASES for fmt in FORMATS if op in MINE[fmt]]


@pytest.mark.parametrize(("op", "format"), PAIRS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_shape_op(op, format, data):
    prove(data, CASES[op](), format)


@pytest.mark.parametrize("format", FORMATS)
def test_every_permutation_of_rank_1_to_5(format):
    """Transpose by every permutation of every rank 1..5 (153 of them), one model holding them all."""
    import itertools

    from onnx import TensorProto, helper

    from bridgec.backends.coreml.model import build as build_model
    from bridgec.backends.coreml.targets import Target
    from bridgec.core import ir
    from bridgec.core.runtimes import run_onnxruntime

    shapes_by_rank = {r: tuple(range(2, 2 + r)) for r in range(1, 6)}  # distinct extents: a wrong axis shows
    inputs = [
        helper.make_tensor_value_info(f"x{r}", TensorProto.FLOAT, list(s)) for r, s in shapes_by_rank.items()
    ]
    nodes, outputs = [], []
    for rank in shapes_by_rank:
        for i, perm in enumerate(itertools.permutations(range(rank))):
            name = f"t{rank}_{i}"
            nodes.append(helper.make_node("Transpose", [f"x{rank}"], [name], name=name, perm=list(perm)))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    model = helper.make_model(
        helper.make_graph(nodes, "perms", inputs, outputs), opset_imports=[helper.make_opsetid("", 18)]
    )
    graph = ir.import_model(onnx.shape_inference.infer_shapes(model))
    rng = np.random.default_rng(0)
    feeds = {f"x{r}": rng.standard_normal(s).astype(np.float32) for r, s in shapes_by_rank.items()}
    want = run_onnxruntime(graph, feeds)
    target = Target.parse(FORMATS[format][0], format=format)
    got = build_model(graph.copy(), target).run_reference(feeds)
    assert len(outputs) == 153
    for out in outputs:
        np.testing.assert_array_equal(got[out.name], want[out.name], err_msg=out.name)
