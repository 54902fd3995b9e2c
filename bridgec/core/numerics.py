"""How two tensors are compared: the one error metric the conversion check, ``bridgec verify``'s
per-node search and the emitter property tests share.

The error of an output is relative to the output's own scale: ``max |got - want| / max |want|``
over the elements where the reference is finite. An elementwise relative error would be dominated
by elements near zero (a bilinear resize's 1e-7 error on a 1e-9 value is "100 %"); an absolute one
means nothing on a model whose outputs are 1e-7 (random-weight classifiers) or 1e4 (regressors).

Tolerances are per precision, because float16 keeps 11 significant bits where float32 keeps 24:
an fp16 model (ML Program computing in float16, or a NeuralNetwork storing float16 weights) is
judged against what float16 can honestly reach, not against float32's noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# fp32: a converted fp32 model reorders float32 arithmetic (fused conv+bias, a different reduction
# order, exp-based activations): ~1e-6 of the output's scale on the torchvision families, so 1e-4
# leaves two orders of margin and still catches any wrong semantics (those are 1e-2 and up).
# fp16: float16 rounds every intermediate to 2^-11 ~ 4.9e-4 of its value; errors add up over a deep
# network, measured at up to ~1e-2 of the output's scale on the families, so 5e-2 for fp16.
TOLERANCES = {"fp32": 1e-4, "fp16": 5e-2}


@dataclass(frozen=True)
class Difference:
    """How far ``got`` is from ``want``."""

    max_abs: float  # max |got - want| where want is finite (inf: shapes differ; nan: got has NaN there)
    scale: float  # max |want| over its finite elements
    nonfinite: int  # elements of want that are NaN or +-inf (not compared, but must be matched by got)
    mismatched_nonfinite: int  # of those, elements where got is not the same NaN / inf
    size: int
    note: str = ""

    @property
    def max_rel(self) -> float:
        """max |got - want| / max |want| (0 when both are exactly equal, inf when want is all zeros
        and got is not)."""
        if self.max_abs == 0.0:
            return 0.0
        if not np.isfinite(self.max_abs):
            return self.max_abs
        return self.max_abs / self.scale if self.scale > 0 else float("inf")

    def within(self, tolerance: float) -> bool:
        return self.mismatched_nonfinite == 0 and bool(self.max_rel <= tolerance) and not self.note


def difference(got: np.ndarray, want: np.ndarray) -> Difference:
    """Compare ``got`` against the reference ``want`` (any shapes and dtypes; booleans and integers
    are compared as numbers)."""
    got, want = np.asarray(got), np.asarray(want)
    if want.ndim == 0 and got.size == 1:
        got = got.reshape(())  # Core ML has no rank-0 tensors: a scalar comes back as one element
    if got.shape != want.shape:
        return Difference(float("inf"), 0.0, 0, 0, int(want.size), f"shape {got.shape} != {want.shape}")
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    finite = np.isfinite(w)
    nonfinite = int(w.size - np.count_nonzero(finite))
    # where the reference is NaN or +-inf, got must be the same (NaN for NaN, the same infinity)
    same = np.where(np.isnan(w), np.isnan(g), g == w)
    mismatched = int(np.count_nonzero(~finite & ~same))
    if not finite.any():
        return Difference(0.0, 0.0, nonfinite, mismatched, int(w.size))
    gf, wf = g[finite], w[finite]
    if np.isnan(gf).any():
        return Difference(
            float("nan"),
            float(np.abs(wf).max()),
            nonfinite,
            mismatched,
            int(w.size),
            "NaN where the reference has a number",
        )
    diff = np.abs(gf - wf)
    diff[gf == wf] = 0.0  # equal infinities in got against a finite want cannot happen; keeps inf - inf away
    return Difference(float(diff.max()), float(np.abs(wf).max()), nonfinite, mismatched, int(w.size))


def tolerance_for(precision: str) -> float:
    return TOLERANCES[precision]


__all__ = ["TOLERANCES", "Difference", "difference", "tolerance_for"]


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """``rng.standard_normal(shape).astype(np.float32)``, the same numbers, without the float64
    array in between: an input near the size limit (2^30 elements) would need 8 GiB for it."""
    out = np.empty(shape, np.float32)
    flat = out.reshape(-1)
    step = 1 << 20
    for start in range(0, flat.size, step):
        flat[start : start + step] = rng.standard_normal(min(step, flat.size - start))
    return out
