"""numpy reference implementations of the custom-layer kernels.

These are the single definition of what each kernel computes: the Swift and Metal kernels are
tested against golden vectors made from them, and the Core ML reference executor runs custom
layers through them.
"""

from __future__ import annotations

import numpy as np


def hardtanh(x: np.ndarray, min_value: float, max_value: float) -> np.ndarray:
    """``min(max(x, min_value), max_value)``; an infinite bound leaves that side open."""
    lo = np.asarray(min_value, dtype=x.dtype)
    hi = np.asarray(max_value, dtype=x.dtype)
    return np.minimum(np.maximum(x, lo), hi)
