"""linear, matmul (transposes, broadcasting) and einsum against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.mlprogram._mlp_helpers import mb, rand, run_one
from tests.helpers import assert_matches


def test_linear(tmp_path):
    x, w, b = rand(2, 3, 6, seed=1), rand(4, 6, seed=2), rand(4, seed=3)
    assert_matches(
        run_one(lambda x: mb.linear(x=x, weight=w, bias=b), {"x": x}, tmp_path, "linear"),
        x @ w.T + b,
        tolerance=1e-6,
    )


@pytest.mark.parametrize("tx,ty", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_transposes_and_broadcasts(tx, ty, tmp_path):
    a = rand(2, 1, 5, 3, seed=4) if tx else rand(2, 1, 3, 5, seed=4)
    b = rand(3, 4, 5, seed=5) if ty else rand(3, 5, 4, seed=5)
    got = run_one(
        lambda a, b: mb.matmul(x=a, y=b, transpose_x=tx, transpose_y=ty), {"a": a, "b": b}, tmp_path, "matmul"
    )
    want = np.matmul(a.swapaxes(-1, -2) if tx else a, b.swapaxes(-1, -2) if ty else b)
    assert_matches(got, want, tolerance=1e-6)


def test_matmul_rank1(tmp_path):
    a, b = rand(5, seed=6), rand(5, 3, seed=7)
    assert_matches(
        run_one(lambda a, b: mb.matmul(x=a, y=b), {"a": a, "b": b}, tmp_path, "matmul"), a @ b, tolerance=1e-5
    )


def test_einsum(tmp_path):
    a, b = rand(2, 3, 4, 5, seed=8), rand(2, 5, 4, 6, seed=9)
    got = run_one(
        lambda a, b: mb.einsum(values=(a, b), equation="nchw,nwhr->nchr"),
        {"a": a, "b": b},
        tmp_path,
        "einsum",
    )
    assert_matches(got, np.einsum("nchw,nwhr->nchr", a, b), tolerance=1e-6)


@pytest.mark.parametrize(
    "equation, a_shape, b_shape",
    [("nchw,nwhr->nchr", (1, 3, 4, 5), (2, 5, 1, 6)), ("chw,whr->chr", (3, 1, 5), (5, 4, 6))],
)
def test_einsum_broadcasts_size_one_batch_axes(equation, a_shape, b_shape, tmp_path):
    # Reference: "If, for one of the inputs, the dimensions "B" or "H" is 1, they are broadcast"
    a, b = rand(*a_shape, seed=10), rand(*b_shape, seed=11)
    got = run_one(
        lambda a, b: mb.einsum(values=(a, b), equation=equation), {"a": a, "b": b}, tmp_path, "einsum"
    )
    # the same contraction by broadcasting by hand: "...w" of a against "w..." of b
    if len(a_shape) == 4:
        a_, b_ = np.broadcast_to(a, (2, 3, 4, 5)), np.broadcast_to(b, (2, 5, 4, 6))
        want = np.stack([np.stack([a_[n, :, h, :] @ b_[n, :, h, :] for h in range(4)], 1) for n in range(2)])
    else:
        a_, b_ = np.broadcast_to(a, (3, 4, 5)), np.broadcast_to(b, (5, 4, 6))
        want = np.stack([a_[:, h, :] @ b_[:, h, :] for h in range(4)], 1)
    assert_matches(got, want, tolerance=1e-6)


@pytest.mark.parametrize("equation", ["nchw,nwhr->nhcr", "ab,bc->ac", "chw,whr->chr,", "nchw->nwhc"])
def test_einsum_refuses_other_equations(equation):
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.linear import einsum

    values = tuple(rand(*([2] * len(term)), seed=12) for term in equation.split("->")[0].split(",") if term)
    with pytest.raises(Exception, match="not one einsum supports"):
        einsum(Op("einsum", "e", {"values": values, "equation": np.array(equation)}))
