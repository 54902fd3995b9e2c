"""logical* and whereBroadcastable layers against numpy computations of the proto's words."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import run_one
from tests.helpers import assert_matches

# "Input is considered False if equal to 0.0f otherwise True": negatives and fractions are True
A = np.array([[0.0, -0.5, 2.0, 0.0], [1.0, 0.0, -3.0, 0.25]], np.float32)
B = np.array([0.0, 0.0, 7.0, -1.0], np.float32)  # broadcast along the rows


@pytest.mark.parametrize(
    "mode, truth", [("AND", lambda p, q: p and q), ("OR", lambda p, q: p or q), ("XOR", lambda p, q: p != q)]
)
def test_logical_layers_treat_nonzero_as_true(mode, truth):
    y = run_one({"a": A, "b": B}, lambda bld: bld.add_logical("l", ["a", "b"], "y", mode))
    want = [[float(truth(bool(p), bool(q))) for p, q in zip(row, B, strict=True)] for row in A.tolist()]
    assert_matches(y, np.array(want, np.float32))


def test_logical_not():
    y = run_one({"a": A}, lambda bld: bld.add_logical("l", ["a"], "y", "NOT"))
    assert_matches(y, np.array([[float(not v) for v in row] for row in A.tolist()], np.float32))


def test_where_broadcasts_all_three_and_a_float_condition_is_true_where_nonzero():
    # Proto: "All the 3 inputs are first broadcasted to a common shape"; "True" for a float condition
    # is not defined there: taken as non-zero, as the logical layers read their inputs
    cond = np.array([[0.0], [-0.5]], np.float32)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    z = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]], np.float32)
    y = run_one(
        {"c": cond, "x": x, "z": z}, lambda bld: bld.add_where_broadcastable("w", ["c", "x", "z"], "y")
    )
    assert_matches(y, np.array([[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]], np.float32), tolerance=1e-6)
