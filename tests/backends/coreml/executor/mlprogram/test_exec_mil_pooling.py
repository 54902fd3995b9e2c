"""max_pool / avg_pool / l2_pool against torch.nn.functional."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.mlprogram._mlp_helpers import mb, rand, run_one
from tests.helpers import assert_matches


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_custom_pad_and_ceil_mode(kind, ceil_mode, tmp_path):
    x = rand(2, 3, 9, 10, seed=1)
    fn = mb.max_pool if kind == "max" else mb.avg_pool
    kw = {"exclude_padding_from_average": False} if kind == "avg" else {}

    def build(x):
        return fn(
            x=x,
            kernel_sizes=[3, 3],
            strides=[2, 2],
            pad_type="custom",
            pad=[1, 1, 1, 1],
            ceil_mode=ceil_mode,
            **kw,
        )

    got = run_one(build, {"x": x}, tmp_path, f"{kind}_pool")
    t = torch.from_numpy(x)
    if kind == "max":
        want = F.max_pool2d(t, 3, 2, padding=1, ceil_mode=ceil_mode)
    else:
        want = F.avg_pool2d(t, 3, 2, padding=1, ceil_mode=ceil_mode, count_include_pad=True)
    assert_matches(got, want, tolerance=1e-6)


def test_avg_pool_excluding_padding(tmp_path):
    x = rand(1, 2, 7, 7, seed=2)

    def build(x):
        return mb.avg_pool(
            x=x, kernel_sizes=[3, 3], strides=[1, 1], pad_type="same", exclude_padding_from_average=True
        )

    want = F.avg_pool2d(torch.from_numpy(x), 3, 1, padding=1, count_include_pad=False)
    assert_matches(run_one(build, {"x": x}, tmp_path, "avg_pool"), want, tolerance=1e-6)


def test_max_pool_valid_1d_and_3d(tmp_path):
    x1, x3 = rand(1, 2, 11, seed=3), rand(1, 2, 5, 6, 4, seed=4)

    def build(a, b):
        return (
            mb.max_pool(x=a, kernel_sizes=[3], strides=[2], pad_type="valid"),
            mb.avg_pool(x=b, kernel_sizes=[2, 3, 2], strides=[1, 2, 2], pad_type="valid"),
        )

    from tests.backends.coreml.executor.mlprogram._mlp_helpers import run_program

    out = list(run_program(build, {"a": x1, "b": x3}, tmp_path, "max_pool").values())
    assert_matches(out[0], F.max_pool1d(torch.from_numpy(x1), 3, 2), tolerance=1e-7)
    assert_matches(out[1], F.avg_pool3d(torch.from_numpy(x3), (2, 3, 2), (1, 2, 2)), tolerance=1e-6)


def test_l2_pool(tmp_path):
    x = rand(1, 2, 6, 6, seed=5)
    got = run_one(
        lambda x: mb.l2_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid"),
        {"x": x},
        tmp_path,
        "l2_pool",
    )
    assert_matches(got, F.lp_pool2d(torch.from_numpy(x), 2, 2, 2), tolerance=1e-6)


@pytest.mark.parametrize("size", [7, 8, 9])
def test_ceil_mode_output_size_when_shape_is_symbolic(size):
    """With flexible input shapes the program declares no output size: the executor's own rule must
    then agree with torch (and MIL's spatial_dimensions_out_shape)."""
    import numpy as np

    from bridgec.backends.coreml.executor.mlprogram import OPS, Op

    x = rand(1, 2, size, size, seed=size)
    inputs = {
        "x": x,
        "kernel_sizes": np.array([3, 3]),
        "strides": np.array([2, 2]),
        "pad_type": np.array("custom", dtype=object),
        "pad": np.array([1, 1, 1, 1]),
        "ceil_mode": np.array(True),
    }
    got = OPS["max_pool"](Op("max_pool", "p", inputs, [np.dtype(np.float32)], [None]))
    assert_matches(got, F.max_pool2d(torch.from_numpy(x), 3, 2, padding=1, ceil_mode=True), tolerance=1e-6)
