"""The executors' array erf gives math.erf's doubles bit for bit, and the depthwise helper's
contiguous paths (stride 1, and the phases of a larger stride) sum the same products in the same
order as strided windows do."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bridgec.backends.coreml.executor._depthwise import depthwise
from bridgec.backends.coreml.executor._erf import erf


def test_erf_is_math_erf_bit_for_bit():
    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e-310, 5e-324, 2.0**-28, -(2.0**-28)]
    edges += [0.84375, -0.84375, 1.25, -1.25, 1 / 0.35, -1 / 0.35, 6.0, -6.0, 28.0, 1e300]
    xs = np.concatenate(
        [
            np.array(edges),
            rng.uniform(-7, 7, 200_000),
            rng.standard_normal(200_000),
            rng.uniform(-1e-8, 1e-8, 2_000),
            np.nextafter(np.array([0.84375, 1.25, 1 / 0.35, 6.0]), 0.0),
        ]
    )
    want = np.array([math.erf(v) for v in xs])
    got = erf(xs.reshape(-1, 2))
    assert got.shape == (xs.size // 2, 2)
    got = got.reshape(-1)
    same = (got.view(np.uint64) == want.view(np.uint64)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"{np.count_nonzero(~same)} differ, first at x={xs[~same][0]!r}"


def _strided(xp, taps, kernel, out, strides, dilations, zero_start):
    """The same sum tap by tap on strided windows, as the executors computed it before."""
    y = np.zeros(xp.shape[:2] + tuple(out), xp.dtype) if zero_start else None
    for t, offset in enumerate(np.ndindex(*kernel)):
        steps = zip(offset, dilations, strides, out, strict=True)
        window = xp[(Ellipsis, *(slice(o * d, o * d + s * (m - 1) + 1, s) for o, d, s, m in steps))]
        term = window * taps[:, t].reshape((-1,) + (1,) * len(out))
        y = term if y is None else y + term
    return y


@pytest.mark.parametrize(
    ("spatial", "kernel", "strides", "dilations"),
    [
        ((9, 11), (3, 3), (1, 1), (1, 1)),
        ((12, 7), (5, 3), (1, 1), (2, 1)),
        ((13,), (3,), (1,), (2,)),
        ((4, 5, 6), (3, 2, 3), (1, 1, 1), (1, 2, 1)),
        ((11, 12), (3, 3), (2, 2), (1, 1)),
        ((15, 10), (5, 5), (2, 3), (1, 1)),
        ((17, 9), (3, 2), (3, 2), (2, 3)),
        ((14,), (4,), (3,), (1,)),
    ],
)
@pytest.mark.parametrize("zero_start", [True, False])
def test_depthwise_contiguous_path_sums_like_the_strided_one(spatial, kernel, strides, dilations, zero_start):
    rng = np.random.default_rng(1)
    xp = rng.standard_normal((2, 5, *spatial)).astype(np.float32)
    xp[0, 0] = -0.0  # signed zeros must come out as the strided sum gives them
    taps = rng.standard_normal((5, math.prod(kernel))).astype(np.float32)
    taps[0] = np.abs(taps[0])
    out = [
        (m - (k - 1) * d - 1) // s + 1 for m, k, s, d in zip(spatial, kernel, strides, dilations, strict=True)
    ]
    got = depthwise(xp, taps, kernel, out, strides, dilations, zero_start)
    want = _strided(xp, taps, kernel, out, strides, dilations, zero_start)
    assert got.shape == want.shape
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()
