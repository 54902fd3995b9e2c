"""Helpers shared by the layer implementations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# A layer implementation takes the layer message and its input arrays (in ``layer.input`` order)
# and returns one array per ``layer.output``.
LayerFn = Callable[[Any, list[np.ndarray]], list[np.ndarray]]


def fold_batch(x: np.ndarray, trailing: int, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """View ``x`` as ``[batch, *x.shape[-trailing:]]``, with every leading axis folded into batch.

    NeuralNetwork.proto treats "the leading dimensions, starting from 0 to -4 (inclusive)" as
    batch for the spatial layers; folding them lets each implementation handle exactly one layout
    (``trailing`` = 3 for [C, H, W]). Returns the folded array and the leading shape to restore.
    """
    if x.ndim < trailing:
        raise ValueError(f"{name} needs an input of rank >= {trailing}, got shape {x.shape}")
    lead = x.shape[: x.ndim - trailing]
    return x.reshape((-1,) + x.shape[x.ndim - trailing :]), lead


def unfold_batch(y: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``fold_batch`` for a result whose trailing axes may have changed size."""
    return y.reshape(lead + y.shape[1:])


def f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def pair(values: Any, default: tuple[int, int]) -> tuple[int, int]:
    """Read a length-2 repeated field that the proto says falls back to ``default`` when unset."""
    vals = [int(v) for v in values]
    if not vals:
        return default
    if len(vals) != 2:
        raise ValueError(f"expected 2 values [H, W], got {vals}")
    return vals[0], vals[1]


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis % rank
