"""batch_norm, instance_norm, layer_norm, l2_norm, local_response_norm (iOS15 normalization.py).

Semantics from the MIL op reference (iOS15 normalization.py; iOS17 only widens dtypes):
- batch_norm: "y_i = gamma_i (x_i - mean_i) / sqrt(variance_i + epsilon) + beta_i", the parameters
  "1-D tensors whose lengths are equal to the second axis"; gamma, beta default to ones, zeros;
- instance_norm: "Apply instance normalization", gamma/beta "[C]". Silent on the axes and the
  variance: we normalise each (n, C) over the spatial axes with the biased variance, as instance
  normalisation is defined (ONNX, torch; pinned against torch);
- layer_norm: "out = gamma * (input - E[x]) / sqrt(Var[x] + epsilon) + beta" over ``axes`` (default
  all), gamma/beta of shape "x.shape[axes]". Var is the biased variance (silent; pinned against torch);
- l2_norm: "x_i / sqrt(sum x_i^2 + epsilon)" over the last three axes, leading axes batch-wise;
- local_response_norm: "x_i / (k + alpha / size * sum_j x_j^2)^beta" over "neighboring channels".
  Silent on where an even-sized window sits: we take (size - 1) // 2 channels before and size // 2
  after, as ONNX's LRN does (torch's local_response_norm takes the larger half before). No bridgec
  emitter produces this op yet; one must check the window against this before using it.

Statistics are taken in float32 even in fp16 programs (the result is rounded to fp16 by the
runner): Core ML reduces in wider precision on every compute unit, and an fp16 running sum over a
large axis would report an error the device does not have.
"""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, accumulate_dtype


def _channel(op: Op, key: str, x: np.ndarray, default: float) -> np.ndarray:
    if key not in op:
        return np.asarray(default, np.float32)
    v = np.asarray(op[key], np.float32).reshape(-1)
    if v.size != x.shape[1]:
        raise op.error(f"{key} has {v.size} values, the input {x.shape} has {x.shape[1]} channels (axis 1)")
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm(op: Op) -> np.ndarray:
    x = op["x"]
    acc = accumulate_dtype(x)
    mean, var = _channel(op, "mean", x, 0.0), _channel(op, "variance", x, 1.0)
    gamma, beta = _channel(op, "gamma", x, 1.0), _channel(op, "beta", x, 0.0)
    scale = gamma / np.sqrt(var + op.float("epsilon", 1e-5))
    return (x.astype(acc) - mean) * scale + beta


def instance_norm(op: Op) -> np.ndarray:
    x = op["x"].astype(accumulate_dtype(op["x"]))
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + op.float("epsilon", 1e-5))
    return y * _channel(op, "gamma", x, 1.0) + _channel(op, "beta", x, 0.0)


def layer_norm(op: Op) -> np.ndarray:
    x = op["x"].astype(accumulate_dtype(op["x"]))
    axes = sorted({a % x.ndim for a in op.ints("axes", list(range(x.ndim)))})
    mean = x.mean(axis=tuple(axes), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=tuple(axes), keepdims=True)
    y = (x - mean) / np.sqrt(var + op.float("epsilon", 1e-5))
    # gamma / beta have the shape of the normalized axes; put them back in place.
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    for key, combine in (("gamma", np.multiply), ("beta", np.add)):
        if key in op:
            v = np.asarray(op[key], np.float32)
            if v.size != int(np.prod([x.shape[a] for a in axes])):
                raise op.error(
                    f"{key} of shape {v.shape} does not match the normalized axes {axes} of {x.shape}"
                )
            y = combine(y, v.reshape(shape))
    return y


def l2_norm(op: Op) -> np.ndarray:
    x = op["x"].astype(accumulate_dtype(op["x"]))
    axes = tuple(range(max(x.ndim - 3, 0), x.ndim))
    square_sum = np.sum(x * x, axis=axes, keepdims=True)
    return x / np.sqrt(square_sum + op.float("epsilon", 1e-6))


def local_response_norm(op: Op) -> np.ndarray:
    x = op["x"].astype(accumulate_dtype(op["x"]))
    size = op.int("size")
    alpha, beta, k = op.float("alpha", 1e-4), op.float("beta", 0.75), op.float("k", 1.0)
    sq = np.moveaxis(x * x, 1, 0)
    lo, hi = (size - 1) // 2, size // 2
    padded = np.pad(sq, [(lo, hi)] + [(0, 0)] * (x.ndim - 1))
    window = sum(padded[i : i + x.shape[1]] for i in range(size))
    return x / (k + alpha / size * np.moveaxis(window, 0, 1)) ** beta


OPS = {
    "batch_norm": batch_norm,
    "instance_norm": instance_norm,
    "layer_norm": layer_norm,
    "l2_norm": l2_norm,
    "local_response_norm": local_response_norm,
}
