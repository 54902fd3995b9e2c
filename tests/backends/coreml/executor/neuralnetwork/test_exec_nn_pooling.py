"""pooling layer against torch max_pool2d / avg_pool2d (ceil_mode, count_include_pad)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


def _add_pool(kind, k, s, padding_type, exclude_pad=True, is_global=False, **kw):
    def add(builder):
        builder.add_pooling(
            "pool",
            height=k[0],
            width=k[1],
            stride_height=s[0],
            stride_width=s[1],
            layer_type=kind,
            padding_type=padding_type,
            input_name="x",
            output_name="y",
            exclude_pad_area=exclude_pad,
            is_global=is_global,
            **kw,
        )

    return add


def _torch_avg_asymmetric(x, k, s, pads, exclude):
    """Average pool over an explicitly padded input, the count either including or excluding pads."""
    pt, pb, pl, pr = pads
    xt = F.pad(torch.from_numpy(x), (pl, pr, pt, pb))
    sums = F.avg_pool2d(xt, k, s, divisor_override=1)
    if not exclude:
        return sums / (k[0] * k[1])
    ones = F.pad(torch.ones_like(torch.from_numpy(x)), (pl, pr, pt, pb))
    return sums / F.avg_pool2d(ones, k, s, divisor_override=1)


# (shape, kernel, stride, pads (t, b, l, r))
VALID_CASES = [
    ((1, 3, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((2, 5, 9, 7), (3, 3), (2, 2), (1, 1, 1, 1)),
    ((1, 6, 10, 10), (3, 2), (1, 2), (0, 2, 1, 0)),  # asymmetric
    ((1, 4, 7, 11), (5, 3), (3, 2), (2, 1, 0, 1)),
]


@pytest.mark.parametrize("case", VALID_CASES, ids=[f"v{i}" for i in range(len(VALID_CASES))])
def test_max_pool_valid(case):
    shape, k, s, (pt, pb, pl, pr) = case
    x = rand(*shape, seed=1)
    y = run_one(
        {"x": x},
        _add_pool("MAX", k, s, "VALID", padding_top=pt, padding_bottom=pb, padding_left=pl, padding_right=pr),
    )
    ref = F.max_pool2d(F.pad(torch.from_numpy(x), (pl, pr, pt, pb), value=-math.inf), k, s)
    assert_matches(y, ref, tolerance=1e-5)


@pytest.mark.parametrize("exclude", [True, False])
@pytest.mark.parametrize("case", VALID_CASES, ids=[f"v{i}" for i in range(len(VALID_CASES))])
def test_avg_pool_valid(case, exclude):
    shape, k, s, pads = case
    x = rand(*shape, seed=2)
    pt, pb, pl, pr = pads
    y = run_one(
        {"x": x},
        _add_pool(
            "AVERAGE",
            k,
            s,
            "VALID",
            exclude_pad=exclude,
            padding_top=pt,
            padding_bottom=pb,
            padding_left=pl,
            padding_right=pr,
        ),
    )
    assert_matches(y, _torch_avg_asymmetric(x, k, s, pads, exclude), tolerance=1e-5)


def test_avg_pool_symmetric_matches_count_include_pad():
    x = rand(1, 3, 9, 9, seed=3)
    for exclude in (True, False):
        y = run_one(
            {"x": x},
            _add_pool(
                "AVERAGE",
                (3, 3),
                (2, 2),
                "VALID",
                exclude_pad=exclude,
                padding_top=1,
                padding_bottom=1,
                padding_left=1,
                padding_right=1,
            ),
        )
        assert_matches(
            y,
            F.avg_pool2d(torch.from_numpy(x), 3, 2, padding=1, count_include_pad=not exclude),
            tolerance=1e-5,
        )


# (shape, kernel, stride, padding (h, w)): each rounds up, i.e. ceil_mode adds a window.
LAST_PIXEL_CASES = [
    ((1, 3, 8, 8), (3, 3), (2, 2), (1, 1)),
    ((2, 4, 10, 7), (2, 2), (2, 2), (1, 1)),
    ((1, 5, 6, 9), (3, 3), (2, 3), (1, 1)),
    ((1, 2, 13, 13), (4, 4), (3, 3), (2, 2)),
]


@pytest.mark.parametrize("case", LAST_PIXEL_CASES, ids=[f"l{i}" for i in range(len(LAST_PIXEL_CASES))])
def test_include_last_pixel_max_matches_ceil_mode(case):
    shape, k, s, p = case
    x = rand(*shape, seed=4)
    y = run_one(
        {"x": x},
        _add_pool(
            "MAX",
            k,
            s,
            "INCLUDE_LAST_PIXEL",
            padding_top=p[0],
            padding_bottom=p[0],
            padding_left=p[1],
            padding_right=p[1],
        ),
    )
    assert_matches(y, F.max_pool2d(torch.from_numpy(x), k, s, padding=p, ceil_mode=True), tolerance=1e-5)


@pytest.mark.parametrize("exclude", [True, False])
@pytest.mark.parametrize("case", LAST_PIXEL_CASES, ids=[f"l{i}" for i in range(len(LAST_PIXEL_CASES))])
def test_include_last_pixel_avg_matches_ceil_mode(case, exclude):
    shape, k, s, p = case
    x = rand(*shape, seed=5)
    y = run_one(
        {"x": x},
        _add_pool(
            "AVERAGE",
            k,
            s,
            "INCLUDE_LAST_PIXEL",
            exclude_pad=exclude,
            padding_top=p[0],
            padding_bottom=p[0],
            padding_left=p[1],
            padding_right=p[1],
        ),
    )
    ref = F.avg_pool2d(torch.from_numpy(x), k, s, padding=p, ceil_mode=True, count_include_pad=not exclude)
    assert_matches(y, ref, tolerance=1e-5)


def test_include_last_pixel_without_padding_keeps_the_overhanging_window():
    # The proto only drops a window starting past the input when padding is non-zero; with zero
    # padding an output of ceil((H - k) / s) + 1 is kept even when torch's ceil_mode drops it.
    x = rand(1, 1, 5, 5, seed=6)
    y = run_one({"x": x}, _add_pool("MAX", (1, 1), (3, 3), "INCLUDE_LAST_PIXEL"))
    assert y.shape == (1, 1, 3, 3)
    assert F.max_pool2d(torch.from_numpy(x), 1, 3, ceil_mode=True).shape[2:] == (2, 2)
    assert_matches(y[:, :, :2, :2], x[:, :, ::3, ::3], tolerance=1e-5)


@pytest.mark.parametrize("mode", ["BOTTOM_RIGHT_HEAVY", "TOP_LEFT_HEAVY"])
@pytest.mark.parametrize("kind", ["MAX", "AVERAGE"])
def test_same_padding(kind, mode):
    x = rand(1, 3, 8, 7, seed=7)
    k, s = (4, 3), (2, 2)
    y = run_one({"x": x}, _add_pool(kind, k, s, "SAME", exclude_pad=True, same_padding_asymmetry_mode=mode))
    pads = []
    for n, kk, ss in zip((8, 7), k, s, strict=True):
        total = max(0, (math.ceil(n / ss) - 1) * ss + kk - n)
        light = total // 2
        pads.append((total - light, light) if mode == "TOP_LEFT_HEAVY" else (light, total - light))
    (pt, pb), (pl, pr) = pads
    if kind == "MAX":
        ref = F.max_pool2d(F.pad(torch.from_numpy(x), (pl, pr, pt, pb), value=-math.inf), k, s)
    else:
        ref = _torch_avg_asymmetric(x, k, s, (pt, pb, pl, pr), exclude=True)
    assert y.shape[2:] == (4, 4)
    assert_matches(y, ref, tolerance=1e-5)


@pytest.mark.parametrize("kind", ["MAX", "AVERAGE"])
def test_global_pooling_rank5(kind):
    x = rand(2, 3, 5, 6, 7, seed=8)
    y = run_one({"x": x}, _add_pool(kind, (1, 1), (1, 1), "VALID", is_global=True))
    ref = x.max(axis=(3, 4), keepdims=True) if kind == "MAX" else x.mean(axis=(3, 4), keepdims=True)
    assert_matches(y, np.asarray(ref))


# --- pooling3d / globalPooling3d -----------------------------------------------------------------


def _add_pool3d(kind: str, k, s, padding: str, pads=(0,) * 6, exclude: bool = False):
    def add(builder):
        builder.add_pooling3d(
            "pool3d",
            "x",
            "y",
            kind,
            *k,
            *s,
            padding_mode=padding,
            custom_padding_front=pads[0],
            custom_padding_back=pads[1],
            custom_padding_top=pads[2],
            custom_padding_bottom=pads[3],
            custom_padding_left=pads[4],
            custom_padding_right=pads[5],
            average_pooling_count_excludes_padding=exclude,
        )

    return add


PADS3D = (1, 0, 0, 1, 1, 1)  # front, back, top, bottom, left, right: no window of padding only


def _torch_pads(pads):
    return (pads[4], pads[5], pads[2], pads[3], pads[0], pads[1])


def test_pooling3d_max_pads_with_zeros():
    # "All padding types pad the input shape with zeros": a window over padding and negative
    # inputs gives 0, as a max over the zero-padded input does
    x = rand(1, 2, 5, 6, 7, seed=9, low=-3.0, high=-1.0)
    y = run_one({"x": x}, _add_pool3d("MAX", (3, 3, 2), (2, 2, 2), "custom", PADS3D))
    ref = F.max_pool3d(F.pad(torch.from_numpy(x), _torch_pads(PADS3D)), (3, 3, 2), (2, 2, 2))
    assert (y == 0).any()
    assert_matches(y, ref, tolerance=0)


@pytest.mark.parametrize("exclude", [False, True])
def test_pooling3d_average_counts_the_padding_or_not(exclude):
    x = rand(2, 3, 6, 5, 7, seed=10)
    y = run_one({"x": x}, _add_pool3d("AVERAGE", (3, 2, 3), (2, 1, 2), "custom", PADS3D, exclude))
    padded = F.pad(torch.from_numpy(x), _torch_pads(PADS3D))
    ref = F.avg_pool3d(padded, (3, 2, 3), (2, 1, 2))
    if exclude:  # the same sums over the windows' input cells only
        ones = F.pad(torch.ones_like(torch.from_numpy(x)), _torch_pads(PADS3D))
        ref = ref / F.avg_pool3d(ones, (3, 2, 3), (2, 1, 2))
    assert_matches(y, ref, tolerance=1e-6)


def test_pooling3d_valid_and_the_proto_example():
    # the message's example: MAX, kernel 2x2x2, stride 1, VALID over 1..18 -> [[14, 15], [17, 18]]
    x = np.arange(1, 19, dtype=np.float32).reshape(1, 1, 2, 3, 3)
    y = run_one({"x": x}, _add_pool3d("MAX", (2, 2, 2), (1, 1, 1), "valid"))
    assert y.tolist() == [[[[[14.0, 15.0], [17.0, 18.0]]]]]


def test_pooling3d_same_with_a_stride_is_refused():
    from bridgec.backends.coreml.executor.errors import UnsupportedLayerError

    with pytest.raises(UnsupportedLayerError, match="SAME"):
        run_one({"x": rand(1, 1, 4, 4, 4)}, _add_pool3d("MAX", (2, 2, 2), (2, 2, 2), "same"))


@pytest.mark.parametrize("kind", ["MAX", "AVERAGE"])
def test_global_pooling3d(kind):
    x = rand(2, 3, 4, 5, 6, seed=11)

    def add(builder):
        builder.add_global_pooling3d("g", "x", "y", kind)

    y = run_one({"x": x}, add)
    ref = x.max(axis=(2, 3, 4), keepdims=True) if kind == "MAX" else x.mean(axis=(2, 3, 4), keepdims=True)
    assert_matches(y, np.asarray(ref), tolerance=1e-6)
