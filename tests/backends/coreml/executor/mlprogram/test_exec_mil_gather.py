"""gather / scatter family against numpy / torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_one
from tests.helpers import assert_matches

X = rand(3, 4, 5, seed=1)


def test_gather_negative_indices(tmp_path):
    idx = np.array([[0, -1], [2, 1]], np.int32)
    assert_matches(
        run_one(lambda x: mb.gather(x=x, indices=idx, axis=1), {"x": X}, tmp_path, "gather"),
        np.take(X, idx % 4, axis=1),
        tolerance=1e-6,
    )


def test_gather_batch_dims(tmp_path):
    idx = np.array([[0, 3], [1, 1], [2, 0]], np.int32)
    got = run_one(
        lambda x: mb.gather(x=x, indices=idx, axis=1, batch_dims=1),
        {"x": X},
        tmp_path,
        "gather",
        target=ct.target.iOS16,
    )
    assert_matches(got, np.stack([X[i][idx[i]] for i in range(3)]), tolerance=1e-6)


def test_gather_along_axis(tmp_path):
    idx = np.random.default_rng(2).integers(0, 5, size=(3, 4, 2)).astype(np.int32)
    assert_matches(
        run_one(
            lambda x: mb.gather_along_axis(x=x, indices=idx, axis=2), {"x": X}, tmp_path, "gather_along_axis"
        ),
        np.take_along_axis(X, idx, 2),
        tolerance=1e-6,
    )


def test_gather_nd(tmp_path):
    idx = np.array([[0, 1], [2, 3], [1, 0]], np.int32)
    assert_matches(
        run_one(lambda x: mb.gather_nd(x=x, indices=idx), {"x": X}, tmp_path, "gather_nd"),
        X[idx[:, 0], idx[:, 1]],
        tolerance=1e-6,
    )


@pytest.mark.parametrize("mode", ["update", "add", "max"])
def test_scatter_modes(mode, tmp_path):
    idx = np.array([2, 0], np.int32)
    upd = rand(3, 2, 5, seed=3)

    def build(x):
        return mb.scatter(data=x, indices=idx, updates=upd, axis=1, mode=mode)

    want = X.copy()
    for j, i in enumerate(idx):
        want[:, i] = {
            "update": upd[:, j],
            "add": want[:, i] + upd[:, j],
            "max": np.maximum(want[:, i], upd[:, j]),
        }[mode]
    assert_matches(run_one(build, {"x": X}, tmp_path, "scatter"), want, tolerance=1e-6)


def test_scatter_along_axis_and_nd(tmp_path):
    idx = (
        np.random.default_rng(4)
        .permutation(5)[:3]
        .reshape(1, 1, 3)
        .repeat(3, 0)
        .repeat(4, 1)
        .astype(np.int32)
    )
    upd = rand(3, 4, 3, seed=5)
    want = torch.from_numpy(X.copy()).scatter_add(2, torch.from_numpy(idx).long(), torch.from_numpy(upd))
    got = run_one(
        lambda x: mb.scatter_along_axis(data=x, indices=idx, updates=upd, axis=2, mode="add"),
        {"x": X},
        tmp_path,
        "scatter_along_axis",
    )
    assert_matches(got, want, tolerance=1e-7)
    nd_idx = np.array([[0, 1], [2, 3]], np.int32)
    nd_upd = rand(2, 5, seed=6)
    got = run_one(
        lambda x: mb.scatter_nd(data=x, indices=nd_idx, updates=nd_upd, mode="update"),
        {"x": X},
        tmp_path,
        "scatter_nd",
    )
    want = X.copy()
    want[0, 1], want[2, 3] = nd_upd
    assert_matches(got, want, tolerance=1e-6)


def test_gather_from_ios17_refuses_negative_indices():
    # iOS17: "negative values are considered out-of-bound" (undefined): the op then has validate_indices
    from bridgec.backends.coreml.executor.errors import LayerError
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.gather import gather, scatter_nd

    idx = np.array([0, -1], np.int32)
    assert gather(Op("gather", "g", {"x": X, "indices": idx, "axis": np.int32(1)})).shape == (3, 2, 5)
    with pytest.raises(LayerError, match="negative"):
        gather(Op("gather", "g", {"x": X, "indices": idx, "axis": np.int32(1), "validate_indices": False}))
    upd = rand(1, 4, 5, seed=7)
    with pytest.raises(LayerError, match="negative"):
        scatter_nd(
            Op(
                "scatter_nd",
                "s",
                {"data": X, "indices": np.array([[-1]], np.int32), "updates": upd, "validate_indices": False},
            )
        )


@pytest.mark.parametrize("mode", ["update", "add", "mul", "max", "min", "sub", "div"])
def test_scatter_nd_modes(mode, tmp_path):
    # "output[indices[i]] = updates[i]" (update) or "output[indices[i]] += updates[i]" (add), and so
    # on; a repeated index applies each update in turn (written out by loops here)
    idx = (
        np.array([[0, 1], [2, 3], [0, 1]], np.int32)
        if mode != "update"
        else np.array([[0, 1], [2, 3]], np.int32)
    )
    upd = rand(len(idx), 5, seed=8, low=0.5, high=2.0)
    want = X.copy()
    for (i, j), u in zip(idx, upd, strict=True):
        want[i, j] = {
            "update": u,
            "add": want[i, j] + u,
            "sub": want[i, j] - u,
            "mul": want[i, j] * u,
            "div": want[i, j] / u,
            "max": np.maximum(want[i, j], u),
            "min": np.minimum(want[i, j], u),
        }[mode]
    got = run_one(
        lambda x: mb.scatter_nd(data=x, indices=idx, updates=upd, mode=mode), {"x": X}, tmp_path, "scatter_nd"
    )
    assert_matches(got, want, tolerance=1e-6)
