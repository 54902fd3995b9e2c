"""argMax / argMin / topK / cumSum layers against numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


@pytest.mark.parametrize("axis, keep", [(1, True), (-1, False), (0, True)])
def test_argmax_argmin(axis, keep):
    x = rand(2, 3, 4, seed=1)
    got_max = run_one({"x": x}, lambda b: b.add_argmax("m", "x", "y", axis=axis, keepdims=keep))
    got_min = run_one({"x": x}, lambda b: b.add_argmin("m", "x", "y", axis=axis, keepdims=keep))
    assert_matches(got_max, torch.argmax(torch.from_numpy(x), dim=axis, keepdim=keep).float(), tolerance=1e-5)
    assert_matches(got_min, torch.argmin(torch.from_numpy(x), dim=axis, keepdim=keep).float(), tolerance=1e-5)


def test_argmax_takes_the_first_of_a_tie():
    x = np.array([[1.0, 3.0, 3.0, 0.0]], np.float32)
    assert_matches(run_one({"x": x}, lambda b: b.add_argmax("m", "x", "y", axis=1, keepdims=False)), [1.0])


@pytest.mark.parametrize("axis, bottom", [(-1, False), (1, True)])
def test_topk_values_and_indices(axis, bottom):
    x = rand(2, 5, 6, seed=2)
    out = run_one(
        {"x": x},
        lambda b: b.add_topk("t", ["x"], ["v", "i"], k=3, axis=axis, use_bottom_k=bottom),
        outputs=("v", "i"),
    )
    values, indices = torch.topk(torch.from_numpy(x), 3, dim=axis, largest=not bottom)
    assert_matches(out["v"], values, tolerance=1e-5)
    assert_matches(out["i"], indices.float(), tolerance=1e-5)


def test_topk_k_from_a_second_input():
    x = rand(2, 6, seed=3)
    out = run_one(
        {"x": x, "k": np.array([2.0], np.float32)},
        lambda b: b.add_topk("t", ["x", "k"], ["v", "i"], axis=1),
        outputs=("v", "i"),
    )
    assert_matches(out["v"], torch.topk(torch.from_numpy(x), 2, dim=1).values, tolerance=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("exclusive", [False, True])
def test_cumsum(reverse, exclusive):
    x = rand(2, 3, 4, seed=4)
    y = run_one(
        {"x": x}, lambda b: b.add_cumsum("c", ["x"], "y", axis=1, reverse=reverse, exclusive=exclusive)
    )
    t = torch.from_numpy(x).flip(1) if reverse else torch.from_numpy(x)
    want = torch.cumsum(t, 1) - (t if exclusive else 0)
    assert_matches(y, want.flip(1) if reverse else want, tolerance=1e-6)


@pytest.mark.parametrize(
    "reverse, exclusive, want",
    [
        (False, False, [4, 10, 17]),
        (False, True, [0, 4, 10]),
        (True, False, [17, 13, 7]),
        (True, True, [13, 7, 0]),
    ],
)
def test_cumsum_the_protos_example(reverse, exclusive, want):
    x = np.array([4.0, 6.0, 7.0], np.float32)
    y = run_one(
        {"x": x}, lambda b: b.add_cumsum("c", ["x"], "y", axis=0, reverse=reverse, exclusive=exclusive)
    )
    assert_matches(y, np.array(want, np.float32), tolerance=1e-6)


def test_cumsum_axis_from_a_second_input():
    # Proto: "If the second input is present, it is used to determine the value of "axis""
    x = rand(2, 3, 4, seed=5)
    y = run_one(
        {"x": x, "a": np.array([-1.0], np.float32)}, lambda b: b.add_cumsum("c", ["x", "a"], "y", axis=0)
    )
    assert_matches(y, np.cumsum(x, axis=2), tolerance=1e-6)


def _ranked(row: list[float], k: int, largest: bool) -> list[int]:
    """The indices of the top (or bottom) k of ``row``, ties by the lower index (the assumption the
    executor makes where the proto is silent)."""
    return sorted(range(len(row)), key=lambda i: (-row[i] if largest else row[i], i))[:k]


@pytest.mark.parametrize("bottom", [False, True])
def test_topk_ties_go_to_the_lower_index(bottom):
    x = np.array([[1.0, 3.0, 3.0, 0.0, 1.0, 3.0], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]], np.float32)
    out = run_one(
        {"x": x},
        lambda b: b.add_topk("t", ["x"], ["v", "i"], k=4, axis=1, use_bottom_k=bottom),
        outputs=("v", "i"),
    )
    want = [_ranked(row, 4, not bottom) for row in x.tolist()]
    assert_matches(out["i"], np.array(want, np.float32), tolerance=1e-5)
    assert_matches(out["v"], np.take_along_axis(x, np.array(want), axis=1), tolerance=1e-5)


def test_argmin_takes_the_first_of_a_tie_and_a_vector_keeps_one_axis():
    # Proto: "input shape = (5,) axis = 0 output shape = (1,), if removeDim = False or True"
    x = np.array([2.0, -1.0, 0.0, -1.0, 5.0], np.float32)
    assert_matches(run_one({"x": x}, lambda b: b.add_argmin("m", "x", "y", axis=0, keepdims=False)), [1.0])
