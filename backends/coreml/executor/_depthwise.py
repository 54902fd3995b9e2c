"""How both executors compute a depthwise convolution (one input channel per output channel).

What it computes is each caller's (ConvolutionLayerParams / the MIL conv op); this is only how:
one multiply-accumulate pass per kernel tap, the taps in the weight's row-major order, so each
output is the same sum of the same products in the same order as a loop over output pixels. With
stride 1, a tap's window is one contiguous run of the flattened padded input (offset by the tap's
position), so each pass is a single long vectorised loop per channel rather than one short loop per
output row; the outputs are computed over the padded width and the extra columns dropped. A stride
s > 1 splits the input into its s phases per axis first, each of which a tap reads with stride 1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np


def depthwise(
    xp: np.ndarray,
    taps: np.ndarray,
    kernel: Sequence[int],
    out: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    zero_start: bool,
) -> np.ndarray:
    """``y[b, c, *i] = sum over taps t (in order) of xp[b, c, *(i * stride + t * dilation)] * taps[c, t]``.

    ``xp`` is the padded input [B, C, *spatial] in the dtype to compute in, ``taps`` [C, prod(kernel)].
    ``zero_start``: the sum starts from 0 (0 + -0.0 is +0.0) rather than from the first product,
    as the caller always did."""
    batch, channels = xp.shape[0], xp.shape[1]
    taps = taps.reshape(channels, -1)
    n = len(out)
    if any(s > 1 for s in strides):
        # Phase p of a stride-s input holds positions p, p + s, ...: a tap at position o reads phase
        # o % s from o // s on with stride 1. The input is first extended with zeros to whole multiples
        # of the strides (never read by an output) so that every phase has one shape.
        ext = tuple(-(-m // s) * s for m, s in zip(xp.shape[2:], strides, strict=True))
        if ext != xp.shape[2:]:
            grown = np.zeros(xp.shape[:2] + ext, xp.dtype)
            grown[(Ellipsis, *(slice(0, m) for m in xp.shape[2:]))] = xp
            xp = grown
    padded = tuple(m // s for m, s in zip(xp.shape[2:], strides, strict=True))
    phases: dict[tuple[int, ...], np.ndarray] = {}
    # flat index of a position p in a phase is sum(p_d * pitch_d); output i sits where its window starts
    pitch = [math.prod(padded[d + 1 :]) for d in range(n)]
    length = sum((o - 1) * p for o, p in zip(out, pitch, strict=True)) + 1
    y = np.zeros((batch, channels, out[0] * pitch[0]), xp.dtype)
    acc, term = y[:, :, :length], np.empty((batch, channels, length), xp.dtype)
    for t, offset in enumerate(itertools.product(*(range(k) for k in kernel))):
        at = [o * d for o, d in zip(offset, dilations, strict=True)]
        phase = tuple(a % s for a, s in zip(at, strides, strict=True))
        if phase not in phases:
            index = (Ellipsis, *(slice(p, None, s) for p, s in zip(phase, strides, strict=True)))
            phases[phase] = np.ascontiguousarray(xp[index]).reshape(batch, channels, -1)
        start = sum((a // s) * p for a, s, p in zip(at, strides, pitch, strict=True))
        window = phases[phase][:, :, start : start + length]
        if t == 0 and not zero_start:
            np.multiply(window, taps[:, t, None], out=acc)
        else:
            np.multiply(window, taps[:, t, None], out=term)
            acc += term
    y = y.reshape(batch, channels, out[0], *padded[1:])
    return y[(Ellipsis, *(slice(0, o) for o in out[1:]))]
