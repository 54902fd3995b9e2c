"""getShape / fill* / range* layers against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


def test_get_shape():
    assert_matches(
        run_one({"x": rand(2, 3, 4)}, lambda b: b.add_get_shape("s", "x", "y")),
        [2.0, 3.0, 4.0],
        tolerance=1e-5,
    )


def test_fill_static_dynamic_like():
    x = rand(2, 3)
    assert_matches(
        run_one({"x": x}, lambda b: b.add_fill_static("f", "y", [3, 2], value=1.5)), np.full((3, 2), 1.5)
    )
    shape = np.array([2.0, 4.0], np.float32)
    assert_matches(
        run_one({"s": shape}, lambda b: b.add_fill_dynamic("f", "s", "y", value=-2.0)), np.full((2, 4), -2.0)
    )
    assert_matches(
        run_one({"x": x}, lambda b: b.add_fill_like("f", "x", "y", value=7.0)), np.full((2, 3), 7.0)
    )


@pytest.mark.parametrize("start, end, step", [(0, 5, 1), (0.5, 3.0, 0.5), (5, -3, -2), (1, 1, 1)])
def test_range_static_and_dynamic(start, end, step):
    x = rand(1)
    assert_matches(
        run_one({"x": x}, lambda b: b.add_range_static("r", "y", end=end, start=start, step=step)),
        np.arange(start, end, step, dtype=np.float32),
        tolerance=1e-5,
    )
    feeds = {
        "e": np.array([end], np.float32),
        "s": np.array([start], np.float32),
        "d": np.array([step], np.float32),
    }
    assert_matches(
        run_one(feeds, lambda b: b.add_range_dynamic("r", ["e", "s", "d"], "y")),
        np.arange(start, end, step, dtype=np.float32),
        tolerance=1e-5,
    )


def test_range_dynamic_end_only_uses_the_parameters():
    feeds = {"e": np.array([4.0], np.float32)}
    assert_matches(
        run_one(feeds, lambda b: b.add_range_dynamic("r", ["e"], "y", start=1, step=2)),
        [1.0, 3.0],
        tolerance=1e-5,
    )


@pytest.mark.parametrize("start, end, step", [(0.0, 0.6, 0.1), (0.1, 0.7, 0.3), (1.5, -0.35, -0.7)])
def test_range_on_a_step_counts_like_numpy_in_double(start, end, step):
    # Proto: "similar in functionality to the numpy.arange method", silent on precision: the float32
    # parameters are counted in double, as numpy.arange counts Python floats (float32 arithmetic
    # would make 0.6f / 0.1f = 6.0000005 -> 7 values)
    start, end, step = (float(np.float32(v)) for v in (start, end, step))
    y = run_one({"x": rand(1)}, lambda b: b.add_range_static("r", "y", end=end, start=start, step=step))
    count = int(np.ceil((end - start) / step))
    assert_matches(
        y, np.float32(start) + np.arange(count, dtype=np.float32) * np.float32(step), tolerance=1e-5
    )
