"""reduce_* ops with axes / keep_dims against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.mlprogram._mlp_helpers import mb, rand, run_one
from tests.helpers import assert_matches

X = rand(2, 3, 4, seed=1, low=0.5, high=1.5)

REDUCE = {
    "reduce_sum": lambda x, a, k: x.sum(a, keepdims=k),
    "reduce_mean": lambda x, a, k: x.mean(a, keepdims=k),
    "reduce_prod": lambda x, a, k: x.prod(a, keepdims=k),
    "reduce_max": lambda x, a, k: x.max(a, keepdims=k),
    "reduce_min": lambda x, a, k: x.min(a, keepdims=k),
    "reduce_l1_norm": lambda x, a, k: np.abs(x).sum(a, keepdims=k),
    "reduce_l2_norm": lambda x, a, k: np.sqrt((x * x).sum(a, keepdims=k)),
    "reduce_sum_square": lambda x, a, k: (x * x).sum(a, keepdims=k),
    "reduce_log_sum": lambda x, a, k: np.log(x.sum(a, keepdims=k)),
    "reduce_log_sum_exp": lambda x, a, k: np.log(np.exp(x).sum(a, keepdims=k)),
}


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduce(name, keep, tmp_path):
    got = run_one(lambda x: getattr(mb, name)(x=x, axes=[0, -1], keep_dims=keep), {"x": X}, tmp_path, name)
    assert_matches(got, REDUCE[name](X, (0, 2), keep), tolerance=1e-6)


@pytest.mark.parametrize("name", ["reduce_argmax", "reduce_argmin"])
def test_arg_reductions(name, tmp_path):
    def build(x):
        return mb.cast(x=getattr(mb, name)(x=x, axis=1, keep_dims=True), dtype="fp32")

    want = (np.argmax if name == "reduce_argmax" else np.argmin)(X, axis=1, keepdims=True)
    assert_matches(run_one(build, {"x": X}, tmp_path, name), want.astype(np.float32), tolerance=1e-6)


@pytest.mark.parametrize("name", ["reduce_argmax", "reduce_argmin"])
def test_arg_reductions_take_the_first_of_a_tie(name, tmp_path):
    # Reference: "In case of ties, the identity of the return value is not guaranteed"; the executor
    # assumes the first (ONNX's select_last_index=0), checked here against an explicit scan
    x = np.array([[1.0, 3.0, 3.0, -2.0, -2.0], [0.0, 0.0, 0.0, 0.0, 0.0]], np.float32)

    def build(x):
        return mb.cast(x=getattr(mb, name)(x=x, axis=-1), dtype="fp32")

    best = max if name == "reduce_argmax" else min
    want = [row.index(best(row)) for row in x.tolist()]
    assert_matches(run_one(build, {"x": x}, tmp_path, name), np.array(want, np.float32), tolerance=1e-6)
