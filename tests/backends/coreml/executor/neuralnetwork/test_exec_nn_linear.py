"""innerProduct and batchedMatmul against numpy / torch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


@pytest.mark.parametrize("has_bias", [True, False])
@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 3, 7)])
def test_inner_product_last_axis(shape, has_bias):
    x, w, b = rand(*shape, seed=1), rand(5, 7, seed=2), rand(5, seed=3)

    def add(bld):
        bld.add_inner_product(
            "fc",
            W=w,
            b=b if has_bias else None,
            input_channels=7,
            output_channels=5,
            has_bias=has_bias,
            input_name="x",
            output_name="y",
        )

    assert_matches(run_one({"x": x}, add), x @ w.T + (b if has_bias else 0), tolerance=1e-5)


def test_inner_product_rank4_flattens_chw():
    # Proto: rank 4 (x1, x2, x3, x4) -> (x1, x2*x3*x4), output (x1, C_out, 1, 1).
    x, w, b = rand(2, 3, 2, 2, seed=4), rand(5, 12, seed=5), rand(5, seed=6)

    def add(bld):
        bld.add_inner_product(
            "fc",
            W=w,
            b=b,
            input_channels=12,
            output_channels=5,
            has_bias=True,
            input_name="x",
            output_name="y",
        )

    assert_matches(run_one({"x": x}, add), (x.reshape(2, 12) @ w.T + b).reshape(2, 5, 1, 1), tolerance=1e-5)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_batched_matmul_two_inputs(ta, tb):
    a = rand(2, 1, 4, 3, seed=7) if not ta else rand(2, 1, 3, 4, seed=7)
    b = rand(5, 3, 6, seed=8) if not tb else rand(5, 6, 3, seed=8)
    y = run_one(
        {"a": a, "b": b},
        lambda bld: bld.add_batched_mat_mul("mm", ["a", "b"], "y", transpose_a=ta, transpose_b=tb),
    )
    ea = np.swapaxes(a, -1, -2) if ta else a
    eb = np.swapaxes(b, -1, -2) if tb else b
    assert_matches(y, ea @ eb, tolerance=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_batched_matmul_with_weight(bias):
    x, w, b = rand(2, 3, 4, seed=9), rand(4, 6, seed=10), rand(6, seed=11)

    def add(bld):
        bld.add_batched_mat_mul(
            "mm", ["x"], "y", weight_matrix_rows=4, weight_matrix_columns=6, W=w, bias=b if bias else None
        )

    assert_matches(run_one({"x": x}, add), x @ w + (b if bias else 0), tolerance=1e-5)


@pytest.mark.parametrize(
    "a_shape,b_shape,want_shape",
    [
        ((3,), (3, 5), (1, 5)),  # "prepending a 1"; the result has rank max(2, 1, 2)
        ((4, 3), (3,), (4, 1)),  # "appending a 1"
        ((3,), (2, 3, 5), (2, 1, 5)),
        ((2, 4, 3), (3,), (2, 4, 1)),
        ((3,), (3,), (1, 1)),
    ],
)
def test_batched_matmul_keeps_the_promoted_axis_of_a_vector(a_shape, b_shape, want_shape):
    # Proto: "When there are two inputs: rank is max(2, rank(a), rank(b))"; a 1-D operand is promoted
    # to a matrix and nothing says the axis is removed again (numpy.matmul removes it).
    a, b = rand(*a_shape, seed=12), rand(*b_shape, seed=13)
    y = run_one({"a": a, "b": b}, lambda bld: bld.add_batched_mat_mul("mm", ["a", "b"], "y"))
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    expected = np.einsum("...mk,...kn->...mn", a2, b2)
    assert y.shape == want_shape
    assert_matches(y, expected, tolerance=1e-5)


def test_batched_matmul_with_weight_ignores_transpose():
    # Proto: transposeA/transposeB "is ignored when there is one input".
    x, w = rand(2, 4, seed=14), rand(4, 3, seed=15)

    def add(bld):
        layer = bld.add_batched_mat_mul("mm", ["x"], "y", weight_matrix_rows=4, weight_matrix_columns=3, W=w)
        layer.batchedMatmul.transposeA = True
        layer.batchedMatmul.transposeB = True

    assert_matches(run_one({"x": x}, add), x @ w, tolerance=1e-5)
