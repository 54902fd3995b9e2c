"""The reduce* layers (Reduce*LayerParams) against numpy computations of what the proto names."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches

# layer -> what the proto's name for it means, computed independently of the executor
EXPECTED = {
    "sum": lambda x, a, k: np.add.reduce(x, axis=a, keepdims=k),
    "mean": lambda x, a, k: (
        np.add.reduce(x, axis=a, keepdims=k) / (x.size / np.add.reduce(x, axis=a, keepdims=k).size)
    ),
    "max": lambda x, a, k: np.maximum.reduce(x, axis=a, keepdims=k),
    "min": lambda x, a, k: np.minimum.reduce(x, axis=a, keepdims=k),
    "prod": lambda x, a, k: np.multiply.reduce(x, axis=a, keepdims=k),
    "l1": lambda x, a, k: np.add.reduce(np.abs(x), axis=a, keepdims=k),
    "l2": lambda x, a, k: np.add.reduce(x * x, axis=a, keepdims=k) ** 0.5,
    "sumsquare": lambda x, a, k: np.add.reduce(x * x, axis=a, keepdims=k),
    # Apple's docs only say "logSum": taken as the log of the sum (ONNX's ReduceLogSum, MIL's
    # reduce_log_sum), not the older ReduceLayerParams' sum of logs
    "logsum": lambda x, a, k: np.log(np.add.reduce(x, axis=a, keepdims=k)),
    "logsumexp": lambda x, a, k: np.log(np.add.reduce(np.exp(x.astype(np.float64)), axis=a, keepdims=k)),
}


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("axes", [(1,), (-1,), (0, 2), (-3, -1)])
@pytest.mark.parametrize("mode", EXPECTED)
def test_reduce_layers(mode, axes, keep):
    x = rand(2, 3, 4, seed=1, low=0.2, high=2.0)  # positive: logsum's log stays defined
    y = run_one(
        {"x": x},
        lambda bld: getattr(bld, f"add_reduce_{mode}")(
            "r", "x", "y", axes=list(axes), keepdims=keep, reduce_all=False
        ),
    )
    assert_matches(
        y,
        EXPECTED[mode](x.astype(np.float64), tuple(a % 3 for a in axes), keep).astype(np.float32),
        tolerance=1e-5,
    )


@pytest.mark.parametrize("mode", EXPECTED)
def test_reduce_all_ignores_the_axes(mode):
    # Proto: "reduceAll: ignore the "axes" parameter, perform reduction along all axes"; a result with
    # no axis left is a 1-element blob (blobs have rank >= 1; the proto does not say)
    x = rand(2, 3, seed=2, low=0.2, high=2.0)
    y = run_one(
        {"x": x},
        lambda bld: getattr(bld, f"add_reduce_{mode}")(
            "r", "x", "y", axes=[0], keepdims=False, reduce_all=True
        ),
    )
    assert_matches(y, EXPECTED[mode](x.astype(np.float64), None, False).reshape(1).astype(np.float32))
