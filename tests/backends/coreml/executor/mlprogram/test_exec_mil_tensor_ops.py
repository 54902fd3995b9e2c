"""concat, split, stack, tile, pad, fill, range_1d, cumsum, topk, argsort, shape, non_zero, one_hot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_one, run_program
from tests.helpers import assert_matches

X = rand(2, 3, 4, seed=1)


def test_concat_and_interleave(tmp_path):
    y = rand(2, 3, 4, seed=2)

    def build(x, y):
        return mb.concat(values=[x, y], axis=1), mb.concat(values=[x, y], axis=1, interleave=True)

    got = list(run_program(build, {"x": X, "y": y}, tmp_path, "concat").values())
    assert_matches(got[0], np.concatenate([X, y], 1), tolerance=1e-6)
    assert_matches(got[1], np.stack([X, y], 2).reshape(2, 6, 4), tolerance=1e-6)


def test_split_sizes_and_num_splits(tmp_path):
    def build(x):
        a = mb.split(x=x, split_sizes=[1, 3], axis=2)
        b = mb.split(x=x, num_splits=3, axis=1)
        return (*a, *b)

    got = list(run_program(build, {"x": X}, tmp_path, "split").values())
    want = np.split(X, [1], axis=2) + np.split(X, 3, axis=1)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert_matches(g, w, tolerance=1e-6)


def test_stack_and_tile(tmp_path):
    def build(x):
        return mb.stack(values=[x, x], axis=-1), mb.tile(x=x, reps=[1, 2, 3])

    got = list(run_program(build, {"x": X}, tmp_path, "tile").values())
    assert_matches(got[0], np.stack([X, X], -1), tolerance=1e-6)
    assert_matches(got[1], np.tile(X, (1, 2, 3)), tolerance=1e-6)


@pytest.mark.parametrize(
    "mode,np_mode", [("constant", "constant"), ("reflect", "reflect"), ("replicate", "edge")]
)
def test_pad_modes(mode, np_mode, tmp_path):
    kw = {"constant_val": 1.5} if mode == "constant" else {}
    got = run_one(lambda x: mb.pad(x=x, pad=[1, 2, 2, 1], mode=mode, **kw), {"x": X}, tmp_path, "pad")
    extra = {"constant_values": 1.5} if mode == "constant" else {}
    assert_matches(got, np.pad(X, [(0, 0), (1, 2), (2, 1)], mode=np_mode, **extra), tolerance=1e-6)


def test_fill_range_shape(tmp_path):
    # Sizes come from input values, so nothing folds into a constant and the outputs are symbolic.
    def build(n):
        s = mb.cast(x=n, dtype="int32")
        filled = mb.fill(shape=s, value=2.5)
        r = mb.range_1d(start=0, end=mb.reduce_prod(x=s), step=2)
        return filled, mb.cast(x=r, dtype="fp32"), mb.cast(x=mb.shape(x=filled), dtype="fp32")

    got = list(run_program(build, {"n": np.array([2, 3], np.float32)}, tmp_path, "range_1d").values())
    assert_matches(got[0], np.full((2, 3), 2.5, np.float32), tolerance=1e-5)
    assert_matches(got[1], np.arange(0, 6, 2).astype(np.float32), tolerance=1e-6)
    assert_matches(got[2], np.array([2, 3], np.float32), tolerance=1e-5)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(exclusive, reverse, tmp_path):
    got = run_one(
        lambda x: mb.cumsum(x=x, axis=1, exclusive=exclusive, reverse=reverse), {"x": X}, tmp_path, "cumsum"
    )
    t = np.flip(X, 1) if reverse else X
    want = np.cumsum(t, 1) - (t if exclusive else 0)
    assert_matches(got, np.flip(want, 1) if reverse else want, tolerance=1e-7)


@pytest.mark.parametrize("ascending", [False, True])
def test_topk_values_and_indices(ascending, tmp_path):
    def build(x):
        v, i = mb.topk(x=x, k=2, axis=-1, ascending=ascending)
        return v, mb.cast(x=i, dtype="fp32")

    got = list(run_program(build, {"x": X}, tmp_path, "topk").values())
    tv, ti = torch.topk(torch.from_numpy(X), 2, dim=-1, largest=not ascending)
    assert_matches(got[0], tv, tolerance=1e-6)
    assert_matches(got[1], ti.float(), tolerance=1e-6)


def test_argsort_and_one_hot(tmp_path):
    def build(x):
        order = mb.argsort(x=x, axis=1, ascending=True)
        return mb.cast(x=order, dtype="fp32"), mb.one_hot(indices=order, one_hot_vector_size=3, axis=-1)

    got = list(run_program(build, {"x": X}, tmp_path, "one_hot", target=ct.target.iOS16).values())
    order = np.argsort(X, axis=1, kind="stable")
    assert_matches(got[0], order.astype(np.float32), tolerance=1e-6)
    assert_matches(got[1], np.eye(3, dtype=np.float32)[order], tolerance=1e-5)


def test_non_zero_and_band_part(tmp_path):
    x = np.array([[0, 1.5, 0], [2, 0, -1]], np.float32)

    def build(x):
        return mb.cast(x=mb.non_zero(x=x), dtype="fp32"), mb.band_part(x=x, lower=0, upper=1)

    got = list(run_program(build, {"x": x}, tmp_path, "non_zero").values())
    assert_matches(got[0], np.argwhere(x).astype(np.float32), tolerance=1e-6)
    assert_matches(got[1], np.triu(np.tril(x, 1), 0), tolerance=1e-6)


def test_pad_past_what_the_reference_allows_is_an_error():
    # "reflect": pads "at most D[i]-1"; "replicate": "at most D[i]"
    from bridgec.backends.coreml.executor.errors import LayerError
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.tensor_ops import pad

    x = rand(2, 3)
    assert pad(Op("pad", "p", {"x": x, "pad": np.array([0, 3], np.int32), "mode": "replicate"})).shape == (
        2,
        6,
    )
    for mode, amount in (("reflect", 3), ("replicate", 4)):
        with pytest.raises(LayerError, match="reach past"):
            pad(Op("pad", "p", {"x": x, "pad": np.array([amount, 0], np.int32), "mode": mode}))


def test_cast_truncates_toward_zero(tmp_path):
    # the MIL reference does not say how a float becomes an int: truncation toward zero is assumed
    # (ONNX's Cast, checked against onnxruntime by tests/properties/test_shape_props.py)
    x = np.array([[-2.7, -1.5, -0.5, 0.0, 0.5, 1.5, 2.7, 3.0]], np.float32)
    got = run_one(lambda x: mb.cast(x=x, dtype="int32"), {"x": x}, tmp_path, "cast")
    np.testing.assert_array_equal(got, [[int(v) for v in x[0]]])  # Python's int() truncates
