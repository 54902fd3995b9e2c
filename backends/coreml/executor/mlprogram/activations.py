"""Activation ops (iOS15 activation.py; iOS17 only widens the alpha/beta dtypes)."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn, accumulate_dtype
from bridgec.backends.coreml.executor.mlprogram.elementwise import erf


def _scalar(op: Op, key: str, x: np.ndarray) -> np.ndarray:
    # Parameters are rounded to x's dtype first: in an fp16 program they are fp16 constants.
    return np.asarray(op.float(key), dtype=x.dtype)


def _channel(op: Op, key: str, x: np.ndarray) -> np.ndarray:
    """A per-channel parameter ([C]) broadcast against x's axis 1 (prelu, softplus_parametric)."""
    v = np.asarray(op[key], dtype=x.dtype).reshape(-1)
    if x.ndim < 3 or v.size not in (1, x.shape[1]):
        raise op.error(f"{key} of length {v.size} does not match channel axis 1 of input shape {x.shape}")
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so exp never overflows (fp16 overflows at exp(11)).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def gelu(op: Op) -> np.ndarray:
    x, mode = op["x"], op.str("mode", "EXACT")
    if mode == "EXACT":
        return (0.5 * x.astype(np.float64) * (1 + erf(x / np.sqrt(2.0)))).astype(x.dtype)
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi).astype(x.dtype) * (x + 0.044715 * x**3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x * _sigmoid(1.702 * x)
    raise op.error(f"mode {mode!r}: expected EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION")


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros((), x.dtype), x)


def softmax(op: Op) -> np.ndarray:
    # Widened like the other reductions: its sum would otherwise run in fp16 in fp16 programs.
    x = op["x"].astype(accumulate_dtype(op["x"]))
    axis = op.axis("axis", x.ndim, -1)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _leaky_relu(op: Op) -> np.ndarray:
    x = op["x"]
    return np.where(x >= 0, x, x * _scalar(op, "alpha", x))


def _elu(op: Op) -> np.ndarray:
    x = op["x"]
    return np.where(x > 0, x, _scalar(op, "alpha", x) * np.expm1(np.minimum(x, 0)))


def _clamped_relu(op: Op) -> np.ndarray:
    x = op["x"]
    alpha, beta = _scalar(op, "alpha", x), _scalar(op, "beta", x)
    return np.minimum(np.maximum(x, 0), beta) + np.minimum(np.minimum(x, 0) * alpha, beta)


def _clip(op: Op) -> np.ndarray:
    x = op["x"]
    y = np.maximum(x, _scalar(op, "alpha", x))
    return np.minimum(y, _scalar(op, "beta", x), out=y)


def _prelu(op: Op) -> np.ndarray:
    x = op["x"]
    return np.where(x >= 0, x, x * _channel(op, "alpha", x))


def _softplus_parametric(op: Op) -> np.ndarray:
    x = op["x"]
    return _channel(op, "alpha", x) * _softplus(x * _channel(op, "beta", x))


def _alpha_beta(fn) -> OpFn:
    return lambda op: fn(op["x"], _scalar(op, "alpha", op["x"]), _scalar(op, "beta", op["x"]))


OPS: dict[str, OpFn] = {
    "relu": lambda op: np.maximum(op["x"], 0),
    "relu6": lambda op: np.minimum(np.maximum(op["x"], 0), 6),
    "sigmoid": lambda op: _sigmoid(op["x"]),
    "silu": lambda op: op["x"] * _sigmoid(op["x"]),
    "softplus": lambda op: _softplus(op["x"]),
    "softsign": lambda op: op["x"] / (1 + np.abs(op["x"])),
    "gelu": gelu,
    "softmax": softmax,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "clamped_relu": _clamped_relu,
    "clip": _clip,
    "prelu": _prelu,
    "softplus_parametric": _softplus_parametric,
    "thresholded_relu": lambda op: np.where(op["x"] >= _scalar(op, "alpha", op["x"]), op["x"], 0),
    "threshold": lambda op: np.maximum(op["x"], _scalar(op, "alpha", op["x"])),
    "linear_activation": _alpha_beta(lambda x, a, b: a * x + b),
    "scaled_tanh": _alpha_beta(lambda x, a, b: a * np.tanh(x * b)),
    "sigmoid_hard": _alpha_beta(lambda x, a, b: np.clip(a * x + b, 0, 1)),
}
