"""Activation ops (iOS15 activation.py; iOS17 only widens the alpha/beta dtypes).

Semantics from the MIL op reference (the docstrings of coremltools' ops/defs/iOS15/activation.py),
quoted per op below. Formulas are computed exactly (expm1 for ``e^x - 1``, exp of -|x| for the
sigmoid); where the reference is silent the comment says what is assumed, and a test checks it on
both sides (tests/backends/coreml/executor/mlprogram/test_exec_mil_activations.py against numpy/torch, the
emitted programs against onnxruntime in tests/properties/).
"""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn, accumulate_dtype
from bridgec.backends.coreml.executor.mlprogram.elementwise import erf


def _scalar(op: Op, key: str, x: np.ndarray) -> np.ndarray:
    # Parameters are rounded to x's dtype first: in an fp16 program they are fp16 constants.
    return np.asarray(op.float(key), dtype=x.dtype)


def _channel(op: Op, key: str, x: np.ndarray) -> np.ndarray:
    """A per-channel parameter ([C]) broadcast against x's axis 1 (softplus_parametric: "alpha_i log(1 +
    e^(beta_i x_i)), where i = 1 ... C", x "[b, C, n, m]", alpha and beta "[C]"; a length-1 parameter
    is taken for every channel, which the reference does not forbid)."""
    v = np.asarray(op[key], dtype=x.dtype).reshape(-1)
    if x.ndim < 3 or v.size not in (1, x.shape[1]):
        raise op.error(f"{key} of length {v.size} does not match channel axis 1 of input shape {x.shape}")
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so exp never overflows (fp16 overflows at exp(11)): 1 / (1 + e) for x >= 0 and
    # e / (1 + e) below, e = exp(-|x|). In place: a new array per step costs more than the math.
    x = np.asarray(x)
    if x.dtype.kind != "f":
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)
    e = np.abs(x, out=np.empty(x.shape, x.dtype))
    np.negative(e, out=e)
    np.exp(e, out=e)
    d = e + 1
    y = np.divide(e, d, out=e)
    np.divide(1, d, out=y, where=x >= 0)
    return y


def _silu(op: Op) -> np.ndarray:
    x = op["x"]
    y = _sigmoid(x)
    return np.multiply(x, y, out=y) if y.dtype == np.result_type(x, y) else x * y


def gelu(op: Op) -> np.ndarray:
    """gelu: EXACT "0.5x(1 + erf(x / sqrt 2))", TANH_APPROXIMATION "0.5x(1 + tanh(sqrt(2/pi)(x +
    0.044715x^3)))", SIGMOID_APPROXIMATION "x * sigmoid(1.702x)"; mode default EXACT."""
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
    """softmax: "exp(x) / reduce_sum(exp(x), axis)", axis default -1 (computed shifted by the max,
    the same value without exp's overflow)."""
    # Widened like the other reductions: its sum would otherwise run in fp16 in fp16 programs.
    x = op["x"].astype(accumulate_dtype(op["x"]))
    axis = op.axis("axis", x.ndim, -1)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _leaky_relu(op: Op) -> np.ndarray:
    # leaky_relu: "If x >= 0 apply x elementwise, otherwise apply alpha * x"
    x = op["x"]
    return np.where(x >= 0, x, x * _scalar(op, "alpha", x))


def _elu(op: Op) -> np.ndarray:
    # elu: "If x > 0 return x, otherwise return alpha * (e^x - 1)"
    x = op["x"]
    return np.where(x > 0, x, _scalar(op, "alpha", x) * np.expm1(np.minimum(x, 0)))


def _clamped_relu(op: Op) -> np.ndarray:
    # clamped_relu: "If x >= 0 return min(beta, x), otherwise return min(beta, alpha * x)"
    x = op["x"]
    alpha, beta = _scalar(op, "alpha", x), _scalar(op, "beta", x)
    return np.minimum(np.maximum(x, 0), beta) + np.minimum(np.minimum(x, 0) * alpha, beta)


def _clip(op: Op) -> np.ndarray:
    # clip: "Any values less than alpha are set to alpha, and any values greater than beta are set
    # to beta". Silent for alpha > beta (iOS15; iOS17 "uses strict validation to ensure alpha <
    # beta"): max then min assumed, as the op's value inference; the emitters never write alpha > beta.
    x = op["x"]
    y = np.maximum(x, _scalar(op, "alpha", x))
    return np.minimum(y, _scalar(op, "beta", x), out=y)


def _prelu(op: Op) -> np.ndarray:
    """prelu: "Where i = 1 ... C, if x_i > 0, return x_i, otherwise return alpha_i * x_i"; x "must have
    rank 4, rank 3, or rank 5", "the length of alpha must match the second dimension of x"; at rank 3
    and 5 only when all alpha values are the same (the op's validation)."""
    x = op["x"]
    alpha = np.asarray(op["alpha"], dtype=x.dtype).reshape(-1)
    if x.ndim not in (3, 4, 5) or alpha.size != x.shape[1]:
        raise op.error(
            f"alpha of length {alpha.size} for input shape {x.shape}: needs rank 3..5 and one per channel"
        )
    if x.ndim != 4 and np.any(alpha != alpha[0]):
        raise op.error(f"rank-{x.ndim} input with different alpha values per channel (only rank 4 has them)")
    return np.where(x > 0, x, x * alpha.reshape((1, -1) + (1,) * (x.ndim - 2)))


def _softplus_parametric(op: Op) -> np.ndarray:
    # softplus_parametric: "alpha_i * log(1 + e^(beta_i * x_i)), where i = 1 ... C" (see _channel)
    x = op["x"]
    return _channel(op, "alpha", x) * _softplus(x * _channel(op, "beta", x))


def _alpha_beta(fn) -> OpFn:
    return lambda op: fn(op["x"], _scalar(op, "alpha", op["x"]), _scalar(op, "beta", op["x"]))


# relu "max(x, 0)"; relu6 "min(max(x, 0), 6)"; sigmoid "sigmoid(x)" (1 / (1 + e^-x)); silu "x * sigmoid(x)";
# softplus "log(1 + e^x)"; softsign "x / (1 + |x|)"; thresholded_relu "x if x >= alpha, otherwise 0";
# linear_activation "x * alpha + beta"; scaled_tanh "alpha * tanh(beta * x)"; sigmoid_hard
# "min(max(alpha * x + beta, 0), 1)"; threshold (elementwise_unary.py) "Any values less than alpha
# are set to alpha".
OPS: dict[str, OpFn] = {
    "relu": lambda op: np.maximum(op["x"], 0),
    "relu6": lambda op: np.minimum(np.maximum(op["x"], 0), 6),
    "sigmoid": lambda op: _sigmoid(op["x"]),
    "silu": _silu,
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
