"""gatherND / gatherAlongAxis layers against numpy, and INT32 multiarray features: an INT32 input
reaches the layers as float32, an INT32 output holds the blob's whole values as int32."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml.executor import run
from tests.backends.coreml.executor.neuralnetwork._executor_helpers import build, rand, run_one


def test_gather_nd_takes_points_of_the_leading_axes():
    x = rand(3, 4, 5, seed=3)
    indices = np.array([[[0, 1], [2, 3]], [[1, 0], [2, 2]]], np.float32)  # blobs are float
    got = run_one({"x": x, "i": indices}, lambda b: b.add_gather_nd("g", ["x", "i"], "y"))
    want = np.stack([x[0, 1], x[2, 3], x[1, 0], x[2, 2]]).reshape(2, 2, 5)
    np.testing.assert_array_equal(got, want)


def test_gather_nd_refuses_a_negative_index_the_proto_does_not_give():
    with pytest.raises(Exception, match=r"outside \[0, size\)"):
        run_one(
            {"x": rand(3, 4), "i": np.array([[-1, 0]], np.float32)},
            lambda b: b.add_gather_nd("g", ["x", "i"], "y"),
        )


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_gather_along_axis_is_take_along_axis_with_negative_indices(axis):
    x = rand(3, 4, 5, seed=4)
    shape = list(x.shape)
    shape[axis] = 2
    size = x.shape[axis]
    indices = np.random.default_rng(5).integers(-size, size, shape)
    got = run_one(
        {"x": x, "i": indices.astype(np.float32)},
        lambda b: b.add_gather_along_axis("g", ["x", "i"], "y", axis=axis),
    )
    np.testing.assert_array_equal(
        got, np.take_along_axis(x, np.where(indices < 0, indices + size, indices), axis)
    )


def test_int32_features_are_float_inside_and_int32_outside():
    spec = build({"ids": (1, 4), "x": (5, 3)}, lambda b: b.add_gather("g", ["x", "ids"], "y", axis=0))
    array = spec.description.input[0].type.multiArrayType
    array.dataType = array.INT32
    out = spec.description.output[0].type.multiArrayType
    out.dataType = out.INT32
    x = np.arange(15, dtype=np.float32).reshape(5, 3) * 1.5  # y holds 1.5, 4.5, ...: int32 truncates them
    got = run(spec, {"ids": np.array([[4, 0, -1, 2]], np.int32), "x": x})["y"]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.trunc(x[[4, 0, -1, 2]][None]).astype(np.int32))
