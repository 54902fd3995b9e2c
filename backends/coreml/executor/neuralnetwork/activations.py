"""``activation`` (ActivationParams), ``clip`` and the rank-N unary math layers.

Semantics from NeuralNetwork.proto (quoted per function). Where the proto gives a formula, the code
computes that value exactly (expm1 for ``e^x - 1``, a stable form of the sigmoid); where it is silent
the comment says so and what is assumed, and a test checks the assumption on both sides (the
executor against numpy/torch in tests/backends/coreml/executor/neuralnetwork/test_exec_nn_activations.py, the emitted
model against onnxruntime in tests/properties/).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import f32
from bridgec.backends.coreml.executor.weights import weight_array
from bridgec.core.erf import erf as _erf  # math.erf's doubles, on arrays


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # The tanh form never overflows, unlike 1 / (1 + exp(-x)) for large negative x:
    # 0.5 * (1 + tanh(0.5 * x)), in place (a new array per step costs more than the math).
    y = np.multiply(np.float32(0.5), x, out=np.empty(np.shape(x), np.float32))
    np.tanh(y, out=y)
    np.add(np.float32(1.0), y, out=y)
    return np.multiply(np.float32(0.5), y, out=y)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.float32(0.0), x)


def _per_channel(params: Any, x: np.ndarray, what: str) -> np.ndarray | np.float32:
    """A WeightParams of length 1 or C, broadcast along axis -3 as the proto specifies."""
    v = weight_array(params, what=what)
    if v.size == 1:
        return np.float32(v[0])
    if x.ndim < 3 or x.shape[-3] != v.size:
        raise ValueError(f"{what} has {v.size} values but the input's axis -3 is {x.shape}")
    return v.reshape(-1, 1, 1)


def activation(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ActivationParams, one formula per NonlinearityType message of NeuralNetwork.proto:
    ReLU "max(0, x)"; leakyReLU "x if x >= 0, alpha x if x < 0"; thresholdedReLU "x if x >= alpha,
    0 if x < alpha"; PReLU "x_i if x_i >= 0, alpha_i x_i if x_i < 0 ... Axis = -3 is denoted by C",
    alpha "of length C or 1"; tanh; scaledTanh "alpha tanh(beta x)"; sigmoid "1 / (1 + e^-x)";
    sigmoidHard "min(max(alpha x + beta, 0), 1)"; linear "alpha x + beta"; ELU "x if x >= 0,
    alpha (e^x - 1) if x < 0"; softsign "x / (1 + |x|)"; softplus "log(1 + e^x)";
    parametricSoftplus "alpha_i log(1 + e^(beta_i x_i))" per channel of axis -3 (length C or 1).
    Silent: NaN inputs (assumed to propagate, as every formula does in IEEE arithmetic)."""
    p = layer.activation
    x = f32(inputs[0])
    kind = p.WhichOneof("NonlinearityType")
    if kind == "ReLU":
        y = np.maximum(x, np.float32(0))
    elif kind == "leakyReLU":
        y = np.where(x >= 0, x, x * np.float32(p.leakyReLU.alpha))
    elif kind == "thresholdedReLU":
        y = np.where(x >= np.float32(p.thresholdedReLU.alpha), x, np.float32(0))
    elif kind == "PReLU":
        alpha = _per_channel(p.PReLU.alpha, x, "PReLU alpha")
        y = np.where(x >= 0, x, x * alpha)
    elif kind == "tanh":
        y = np.tanh(x)
    elif kind == "scaledTanh":
        y = np.float32(p.scaledTanh.alpha) * np.tanh(np.float32(p.scaledTanh.beta) * x)
    elif kind == "sigmoid":
        y = _sigmoid(x)
    elif kind == "sigmoidHard":
        y = np.clip(np.float32(p.sigmoidHard.alpha) * x + np.float32(p.sigmoidHard.beta), 0, 1)
    elif kind == "linear":
        y = np.float32(p.linear.alpha) * x + np.float32(p.linear.beta)
    elif kind == "ELU":
        y = np.where(x >= 0, x, np.float32(p.ELU.alpha) * np.expm1(np.minimum(x, 0)))
    elif kind == "softsign":
        y = x / (1 + np.abs(x))
    elif kind == "softplus":
        y = _softplus(x)
    elif kind == "parametricSoftplus":
        alpha = _per_channel(p.parametricSoftplus.alpha, x, "parametricSoftplus alpha")
        beta = _per_channel(p.parametricSoftplus.beta, x, "parametricSoftplus beta")
        y = alpha * _softplus(beta * x)
    else:
        raise UnsupportedLayerError(layer.name, "activation", f"nonlinearity {kind!r}")
    return [f32(y)]


def clip(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ClipLayerParams: "output = min(max(input, minVal), maxVal)" — in that order, so minVal >
    maxVal gives maxVal everywhere (as ONNX's Clip)."""
    p = layer.clip
    y = np.maximum(f32(inputs[0]), np.float32(p.minVal), out=np.empty(np.shape(inputs[0]), np.float32))
    return [np.minimum(y, np.float32(p.maxVal), out=y)]


def erf(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """ErfLayerParams: "f(x) = 1/sqrt(pi) integral from -x to x of e^(-t^2) dt" (math.erf, in double)."""
    return [f32(_erf(f32(inputs[0]).astype(np.float64)))]


def gelu(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """GeluLayerParams: EXACT "0.5 x (1 + erf(x / sqrt 2))", TANH_APPROXIMATION "0.5 x (1 + tanh(sqrt(2/pi)
    (x + 0.044715 x^3)))", SIGMOID_APPROXIMATION "x sigmoid(1.702 x)" (enum values 0, 1, 2)."""
    x = f32(inputs[0])
    mode = layer.gelu.mode  # EXACT, TANH_APPROXIMATION, SIGMOID_APPROXIMATION
    if mode == 0:
        y = 0.5 * x * (1.0 + _erf(x.astype(np.float64) / math.sqrt(2.0)))
    elif mode == 1:
        y = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    else:
        y = x * _sigmoid(np.float32(1.702) * x)
    return [f32(y)]


def _simple(fn: Any) -> Any:
    def run(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return [f32(fn(f32(inputs[0])))]

    return run


# FloorLayerParams "the largest integer not greater than x", CeilLayerParams "the smallest integer not
# less than x", SignLayerParams "+1 for positive values, -1 for negative values, 0 for zeros",
# RoundLayerParams "rounds the value to the nearest integer" (silent on halves: see "round").
# Sin ... AtanhLayerParams: "computes elementwise trigonometric sine [cosine, tangent, arcsine,
# arccosine, arctangent, hyperbolic sine, ...] function", "Output shape is same as the input";
# silent on arguments outside the domain (asin/acos of |x| > 1, acosh of x < 1, atanh of |x| > 1):
# IEEE NaN (and atanh(+-1) = +-inf) assumed, as the C library computes them.
UNARY_SIMPLE = {
    "tanh": _simple(np.tanh),
    "sin": _simple(np.sin),
    "cos": _simple(np.cos),
    "tan": _simple(np.tan),
    "asin": _simple(np.arcsin),
    "acos": _simple(np.arccos),
    "atan": _simple(np.arctan),
    "sinh": _simple(np.sinh),
    "cosh": _simple(np.cosh),
    "asinh": _simple(np.arcsinh),
    "acosh": _simple(np.arccosh),
    "atanh": _simple(np.arctanh),
    "floor": _simple(np.floor),
    "ceil": _simple(np.ceil),
    "sign": _simple(np.sign),
    # Core ML rounds halves away from zero, numpy's rint rounds them to even.
    "round": _simple(lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5)),
    "exp2": _simple(np.exp2),
}

_SQRT, _RSQRT, _INVERSE, _POWER, _EXP, _LOG, _ABS, _THRESHOLD = range(8)


def unary(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """UnaryFunctionLayerParams: "x <- scale x + shift" first (scale "defaults to 1.0 if not set or
    set to 0", shift 0), then SQRT "sqrt(x)", RSQRT "1 / sqrt(x + epsilon)", INVERSE
    "1 / (x + epsilon)", POWER "x^alpha", EXP "e^x", LOG "log x", ABS "|x|", THRESHOLD
    "max(alpha, x)"; epsilon "defaults to 1e-6 if not set or set to 0". Silent: x outside a
    function's domain (SQRT and LOG of negatives: NaN assumed, LOG of 0: -inf, as IEEE)."""
    p = layer.unary
    scale = np.float32(p.scale or 1.0)
    eps = np.float32(p.epsilon or 1e-6)
    x = scale * f32(inputs[0]) + np.float32(p.shift)
    t = p.type
    if t == _SQRT:
        y = np.sqrt(x)
    elif t == _RSQRT:
        y = 1 / np.sqrt(x + eps)
    elif t == _INVERSE:
        y = 1 / (x + eps)
    elif t == _POWER:
        y = np.power(x, np.float32(p.alpha))
    elif t == _EXP:
        y = np.exp(x)
    elif t == _LOG:
        y = np.log(x)
    elif t == _ABS:
        y = np.abs(x)
    elif t == _THRESHOLD:
        y = np.maximum(x, np.float32(p.alpha))
    else:
        raise UnsupportedLayerError(layer.name, "unary", f"operation {t}")
    return [f32(y)]
