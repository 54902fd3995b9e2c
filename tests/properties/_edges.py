"""Feeds that reach an elementwise op's edges, shared by the activation, math and elementwise
property tests.

The error metric is relative to the output's scale (``bridgec.core.numerics``), so one feed cannot show
both a wrong value near 0 and one at 1e3: each case draws one regime (unit-sized data, tiny data
around 0, large data where exp overflows) and a share of its elements set exactly to the op's
edges (0, a threshold, a kink) and their float32 neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import strategies as st

# normal data of this standard deviation; 0.05 lives around 0, 30 and 100 pass exp's overflow (88.7).
# Not smaller: onnxruntime's Elu/Celu/Selu compute exp(x) - 1, whose float32 cancellation is 6e-8
# absolute, a 1e-4 relative error on data of 6e-4 (the executor's expm1 is the exact value)
SCALES = (2.0, 2.0, 2.0, 0.05, 30.0, 100.0)


def _neighbours(points: Sequence[float]) -> np.ndarray:
    pts = np.asarray([p for p in points if np.isfinite(p)], np.float32)
    if not pts.size:
        return pts
    up = np.nextafter(pts, np.float32(np.inf))
    down = np.nextafter(pts, np.float32(-np.inf))
    # 0's float32 neighbours are subnormal, which onnxruntime flushes to 0 (as Core ML's GPU and
    # Neural Engine do), and exp(x) - 1 cancels there (see SCALES): +-0.01 stand for them
    near = np.abs(pts) < np.finfo(np.float32).tiny
    up = np.where(near, np.float32(0.01), up)
    down = np.where(near, np.float32(-0.01), down)
    return np.concatenate([pts, up, down])  # not np.unique: it would merge -0.0 into 0.0


def edge_feed(points: Sequence[float], scale: float = 2.0, share: float = 0.35) -> Callable:
    """A ``Case.feed``: normal data of ``scale`` with about ``share`` of the elements set to one of
    ``points`` or a float32 neighbour of it."""
    exact = _neighbours(points)

    def feed(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
        x = rng.standard_normal(shape) * scale
        if exact.size:
            x = np.where(rng.random(shape) < share, rng.choice(exact, size=shape), x)
        return np.asarray(x).astype(np.float32)

    return feed


@st.composite
def edge_feeds(draw, points: Sequence[float] = (0.0,), scales: Sequence[float] = SCALES) -> Callable:
    """A drawn regime (``SCALES``) around ``points`` (0 always among them)."""
    scale = draw(st.sampled_from(list(scales)), label="feed scale")
    return edge_feed([0.0, *points], scale)
