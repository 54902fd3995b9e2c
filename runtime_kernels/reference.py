"""numpy reference implementations of the custom-layer kernels.

These are the single definition of what each kernel computes: the Swift and Metal kernels are
tested against golden vectors made from them, and the Core ML reference executor runs custom
layers through them.
"""

from __future__ import annotations

import math

import numpy as np


def hardtanh(x: np.ndarray, min_value: float, max_value: float) -> np.ndarray:
    """``min(max(x, min_value), max_value)``; an infinite bound leaves that side open."""
    lo = np.asarray(min_value, dtype=x.dtype)
    hi = np.asarray(max_value, dtype=x.dtype)
    return np.minimum(np.maximum(x, lo), hi)


# The activations below are computed in float64 and rounded once to the input's dtype: the value
# torch computes (in float32 "opmath" for float16 tensors), up to its own rounding errors. NaN
# inputs give NaN. At +-infinity they give the IEEE value of torch's formula: x * gate(x) forms
# (HardSwish, Gelu, Silu, Mish) are NaN at -inf (-inf * 0) and inf at +inf; the saturating ones
# (HardSigmoid, Elu, Selu, Celu, Softplus, Erf) their limits; LeakyRelu +-inf.


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _like(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(y).astype(np.asarray(x).dtype, copy=False)


_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def hardswish(x: np.ndarray) -> np.ndarray:
    """``x * relu6(x + 3) / 6``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(v * np.clip(v + 3.0, 0.0, 6.0) / 6.0, x)


def hardsigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """``max(0, min(1, alpha * x + beta))`` (torch's hardsigmoid: alpha 1/6, beta 0.5)."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.clip(alpha * v + beta, 0.0, 1.0), x)


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    """``x * Phi(x)`` (approximate "none") or the tanh approximation (approximate "tanh")."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "none":
            # 0.5 * x * (1 + erf(x / sqrt 2)) = 0.5 * x * erfc(-x / sqrt 2), without cancellation.
            y = 0.5 * v * _erfc(-v / math.sqrt(2.0))
        elif approximate == "tanh":
            # 0.5 * x * (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) * (x + 0.044715 x^3).
            u = math.sqrt(2.0 / math.pi) * (v + 0.044715 * v * v * v)
            y = v / (1.0 + np.exp(-2.0 * u))
        else:
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _like(y, x)


def silu(x: np.ndarray) -> np.ndarray:
    """``x * sigmoid(x)``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(v / (1.0 + np.exp(-v)), x)


def mish(x: np.ndarray) -> np.ndarray:
    """``x * tanh(softplus(x))``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(v * np.tanh(np.logaddexp(0.0, v)), x)


def elu(x: np.ndarray, alpha: float) -> np.ndarray:
    """``x if x > 0 else alpha * (exp(x) - 1)``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.where(v > 0, v, alpha * np.expm1(v)), x)


def selu(x: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    """``gamma * (x if x > 0 else alpha * (exp(x) - 1))``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(gamma * np.where(v > 0, v, alpha * np.expm1(v)), x)


def celu(x: np.ndarray, alpha: float) -> np.ndarray:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _like(np.maximum(v, 0.0) + np.minimum(0.0, alpha * np.expm1(v / alpha)), x)


def softplus(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    """``x if beta * x > threshold else log(1 + exp(beta * x)) / beta``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.where(beta * v > threshold, v, np.logaddexp(0.0, beta * v) / beta), x)


def leaky_relu(x: np.ndarray, alpha: float) -> np.ndarray:
    """``x if x > 0 else alpha * x``."""
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.where(v > 0, v, alpha * v), x)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function."""
    return _like(_erf(_f64(x)), x)
