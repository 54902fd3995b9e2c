"""tile / broadcastTo* / constantPad / reorganizeData / logical / whereBroadcastable / erf layers
against numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


def test_tile_static_and_dynamic():
    x = rand(2, 3)
    assert_matches(
        run_one({"x": x}, lambda b: b.add_tile("t", "x", "y", reps=[2, 3])),
        np.tile(x, (2, 3)),
        tolerance=1e-5,
    )
    reps = np.array([3.0, 1.0], np.float32)
    assert_matches(
        run_one({"x": x, "r": reps}, lambda b: b.add_tile("t", ["x", "r"], "y")),
        np.tile(x, (3, 1)),
        tolerance=1e-5,
    )


def test_broadcast_to_static_dynamic_like():
    x = rand(3, 1)
    assert_matches(
        run_one({"x": x}, lambda b: b.add_broadcast_to_static("t", "x", "y", [2, 3, 4])),
        np.broadcast_to(x, (2, 3, 4)),
        tolerance=1e-5,
    )
    shape = np.array([2.0, 3.0, 4.0], np.float32)
    assert_matches(
        run_one({"x": x, "s": shape}, lambda b: b.add_broadcast_to_dynamic("t", ["x", "s"], "y")),
        np.broadcast_to(x, (2, 3, 4)),
        tolerance=1e-5,
    )
    like = rand(5, 3, 6)
    assert_matches(
        run_one({"x": x, "l": like}, lambda b: b.add_broadcast_to_like("t", ["x", "l"], "y")),
        np.broadcast_to(x, (5, 3, 6)),
        tolerance=1e-5,
    )


def test_constant_pad_begin_end_pairs_per_axis():
    x = rand(2, 3, 4)
    y = run_one(
        {"x": x}, lambda b: b.add_constant_pad("p", ["x"], "y", value=2.5, pad_amounts=[0, 1, 2, 0, 1, 3])
    )
    assert_matches(y, F.pad(torch.from_numpy(x), (1, 3, 2, 0, 0, 1), value=2.5), tolerance=1e-5)


def test_depth_to_space_matches_the_proto_example():
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 8, 1, 2)
    y = run_one({"x": x}, lambda b: b.add_reorganize_data("r", "x", "y", mode="DEPTH_TO_SPACE", block_size=2))
    want = [[[1, 5, 2, 6], [9, 13, 10, 14]], [[3, 7, 4, 8], [11, 15, 12, 16]]]
    assert_matches(y, np.asarray(want, np.float32)[None], tolerance=1e-5)


def test_pixel_shuffle_and_space_to_depth():
    x = rand(2, 8, 3, 4, seed=2)
    shuffled = run_one(
        {"x": x}, lambda b: b.add_reorganize_data("r", "x", "y", mode="PIXEL_SHUFFLE", block_size=2)
    )
    assert_matches(shuffled, F.pixel_shuffle(torch.from_numpy(x), 2), tolerance=1e-5)
    d2s = run_one(
        {"x": x}, lambda b: b.add_reorganize_data("r", "x", "y", mode="DEPTH_TO_SPACE", block_size=2)
    )
    back = run_one(
        {"x": d2s}, lambda b: b.add_reorganize_data("r", "x", "y", mode="SPACE_TO_DEPTH", block_size=2)
    )
    assert_matches(back, x, tolerance=1e-5)


@pytest.mark.parametrize(
    "mode, fn", [("AND", np.logical_and), ("OR", np.logical_or), ("XOR", np.logical_xor)]
)
def test_logical_binary(mode, fn):
    a, c = np.round(rand(3, 4, seed=1)), np.round(rand(4, seed=2))
    assert_matches(
        run_one({"a": a, "c": c}, lambda b: b.add_logical("l", ["a", "c"], "y", mode)),
        fn(a != 0, c != 0).astype(np.float32),
    )


def test_logical_not_and_where():
    a = np.round(rand(3, 4, seed=3))
    assert_matches(
        run_one({"a": a}, lambda b: b.add_logical("l", ["a"], "y", "NOT")), (a == 0).astype(np.float32)
    )
    x, z = rand(3, 4, seed=4), rand(4, seed=5)
    y = run_one({"a": a, "x": x, "z": z}, lambda b: b.add_where_broadcastable("w", ["a", "x", "z"], "y"))
    assert_matches(y, np.where(a != 0, x, z), tolerance=1e-5)


def test_erf():
    x = rand(4, 5, low=-4, high=4)
    assert_matches(
        run_one({"x": x}, lambda b: b.add_erf("e", "x", "y")), torch.erf(torch.from_numpy(x)), tolerance=1e-5
    )


def test_tile_prepends_ones_to_short_reps():
    # TileLayerParams: input (2, 4, 2), reps (6) -> (1, 1, 6) -> output (2, 4, 12)
    x = rand(2, 4, 2)
    y = run_one({"x": x}, lambda b: b.add_tile("t", "x", "y", reps=[6]))
    assert y.shape == (2, 4, 12)
    assert_matches(y, np.concatenate([x] * 6, axis=2), tolerance=1e-5)


def test_broadcast_to_static_gives_exactly_the_target_shape():
    # "has shape as specified in the parameter targetShape": a 1 where the input is wider is no broadcast
    x = rand(3, 4)
    with pytest.raises(Exception, match="does not broadcast"):
        run_one({"x": x}, lambda b: b.add_broadcast_to_static("t", "x", "y", [3, 1]))
