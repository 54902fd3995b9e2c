"""The depthwise helper's contiguous paths (stride 1, and the phases of a larger stride) sum the
same products in the same order as strided windows do."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bridgec.backends.coreml.executor._depthwise import depthwise


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
