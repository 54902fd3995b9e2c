"""``batchnorm``, ``softmax`` / ``softmaxND`` and ``layerNormalization``."""

from __future__ import annotations

from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import f32, norm_axis
from bridgec.backends.coreml.executor.weights import weight_array


def batchnorm(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """BatchnormLayerParams: "performed along axis = -3, and repeated along the other axes";
    y = gamma (x - mu) / sqrt(sigma^2 + epsilon) + beta; input "rank greater than equal to 3";
    epsilon "Defaults to 1e-5 if not set or set to 0"; with computeMeanVar "the mean and variance
    are calculated from either the single input instance, if instanceNormalization == true, or the
    whole batch": per channel, over H, W of one instance, or over every axis but the channel.
    Silent: the variance's estimator. We take the biased one (mean of squared deviations), as
    batch/instance normalisation define it (ONNX, torch); pinned against torch's instance_norm."""
    p = layer.batchnorm
    x = f32(inputs[0])
    if x.ndim < 3:
        raise ValueError(f"batchnorm needs rank >= 3 (channel axis is -3), got shape {x.shape}")
    c = int(p.channels)
    if x.shape[-3] != c:
        raise ValueError(f"batchnorm has {c} channels but the input's axis -3 is {x.shape[-3]}")
    eps = np.float32(p.epsilon or 1e-5)  # the proto's "0 means unset" rule
    gamma = weight_array(p.gamma, (c, 1, 1), "gamma")
    beta = weight_array(p.beta, (c, 1, 1), "beta")
    if p.computeMeanVar:
        # Instance norm: statistics per sample over H, W; otherwise over every axis but channels.
        axes = (-2, -1) if p.instanceNormalization else tuple(i for i in range(x.ndim) if i != x.ndim - 3)
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
        mean, var = mean.astype(np.float32), var.astype(np.float32)
    else:
        mean = weight_array(p.mean, (c, 1, 1), "mean")
        var = weight_array(p.variance, (c, 1, 1), "variance")
    # Fold into one scale and shift so the big tensor is touched by a single multiply-add.
    scale = gamma / np.sqrt(var + eps)
    y = x * scale
    y += beta - mean * scale
    return [y]


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return f32(z / z.sum(axis=axis, keepdims=True))


def softmax(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    x = f32(inputs[0])
    if x.ndim < 3:
        raise ValueError(f"softmax (axis -3) needs rank >= 3, got shape {x.shape}")
    return [_softmax(x, -3)]


def softmax_nd(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """SoftmaxNDLayerParams: "softmax normalization along a specified axis", which "Supports negative
    values of the parameter 'axis'". Silent on the formula: exp(x) / sum exp(x) along the axis, as
    SoftmaxLayerParams spells it, computed shifted by the max (the same value without exp's overflow;
    the Softmax property test feeds data to 100)."""
    x = f32(inputs[0])
    return [_softmax(x, norm_axis(int(layer.softmaxND.axis), x.ndim))]


def layer_normalization(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """LayerNormalizationLayerParams: "output = gamma * (input - computed_mean) /
    (sqrt(computed_variance + eps)) + beta"; "The mean and variance are computed for the input, over
    the last few dimensions as specified by the normalizedShape parameter"; gamma and beta "must have
    shape = normalizedShape" (unset: not applied). Silent: the variance's estimator; biased, as for
    batchnorm (pinned against torch's layer_norm)."""
    p = layer.layerNormalization
    x = f32(inputs[0])
    shape = tuple(int(v) for v in p.normalizedShape)
    if x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(f"normalizedShape {shape} does not match the input's trailing axes {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = np.square(x - mean).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + np.float32(p.eps))
    if len(p.gamma.floatValue) or len(p.gamma.float16Value):
        y = y * weight_array(p.gamma, shape, "gamma")
    if len(p.beta.floatValue) or len(p.beta.float16Value):
        y = y + weight_array(p.beta, shape, "beta")
    return [f32(y)]
