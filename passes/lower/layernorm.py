"""Legalise LayerNormalization where the target's layer norm cannot take it: an input shape known
only at run time (both formats' layer norm wants the scale and bias in the normalised shape), or a
scale or bias computed at run time. It runs in every pipeline, ``-O none`` included, so the report
names the form.

The form is ONNX's own function body for the op (stash_type float32): over the normalised axes
(``axis`` to the last), mean = mean(x), d = x - mean, y = d / sqrt(mean(d * d) + epsilon) * scale
+ bias. Exact up to float32 rounding (a division where the function body multiplies by the
reciprocal).
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def layer_norm(op, x, scale, axis, epsilon):
    return op.LayerNormalization(x, scale, axis=axis, epsilon=epsilon)


def layer_norm_bias(op, x, scale, bias, axis, epsilon):
    return op.LayerNormalization(x, scale, bias, axis=axis, epsilon=epsilon)


def _axes(x, axis: int) -> list[int]:
    """The normalised axes counted from the end, so an input's unknown extents do not matter."""
    first = axis - len(x.shape) if axis >= 0 else axis
    return list(range(first, 0))


def _shaped(value, shape):
    # The new tensors carry their shapes: a NeuralNetwork's reduction needs its input's rank
    value.shape = shape
    return value


def _mean(op, value, axes):
    kept = (
        None
        if value.shape is None
        else [1 if i - len(value.shape) in axes else d for i, d in enumerate(value.shape)]
    )
    if op.opset >= 18:  # ReduceMean takes its axes as an input from opset 18
        return _shaped(op.ReduceMean(value, op.const(axes, np.int64), keepdims=1), kept)
    return _shaped(op.ReduceMean(value, axes=axes, keepdims=1), kept)


def normalized(op, x, scale, axis, epsilon):
    axes = _axes(x, int(axis))
    mean = _mean(op, x, axes)
    d = _shaped(op.Sub(x, mean), x.shape)
    variance = _mean(op, _shaped(op.Mul(d, d), x.shape), axes)
    std = op.Sqrt(_shaped(op.Add(variance, op.const(float(epsilon))), variance.shape))
    return _shaped(op.Mul(_shaped(op.Div(d, _shaped(std, variance.shape)), x.shape), scale), x.shape)


def normalized_bias(op, x, scale, bias, axis, epsilon):
    return _shaped(op.Add(normalized(op, x, scale, axis, epsilon), bias), x.shape)


def known_rank(x, axis):
    if int(axis) >= 0 and x.shape is None:
        return "the input's rank is unknown and the axis counts from the front"
    # The replacement gives Y only; conservative where x feeds several layer norms
    if any(n.op == "LayerNormalization" and len(n.outputs) > 1 for n in x.outputs):
        return "the node also gives Mean/InvStdDev"
    return None


@register
class LegalizeLayerNorm(RuleSet):
    """LayerNormalization the target's layer norm cannot take -> its ONNX function body."""

    id = "lower::layernorm"
    # fmt: off
    rules = (
        Rule("layernorm_to_moments", layer_norm, normalized, known_rank, "layernorm(x, s) -> (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * s", legalize=True),
        Rule("layernorm_bias_to_moments", layer_norm_bias, normalized_bias, known_rank, "layernorm(x, s, b) -> (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * s + b", legalize=True),
    )
    # fmt: on


# --- InstanceNormalization (GroupNorm(1) is exported as one) ---------------------------------------------
# ONNX: y = scale[c] * (x - mean) / sqrt(var + epsilon) + B[c], the moments over the spatial axes
# (2 to the last) of each sample and channel: the layer norm's body from axis 2, its per-channel
# scale and bias broadcast as [1, C, 1, ...].


def instance_norm(op, x, scale, bias, epsilon):
    return op.InstanceNormalization(x, scale, bias, epsilon=epsilon)


def _per_channel(op, value, rank: int):
    array = ir.constant_value(value)
    return op.const(array.reshape(1, -1, *[1] * (rank - 2)), array.dtype)


def instance_normalized(op, x, scale, bias, epsilon):
    rank = len(x.shape)
    return normalized_bias(op, x, _per_channel(op, scale, rank), _per_channel(op, bias, rank), 2, epsilon)


def constant_affine(x, scale, bias):
    if x.shape is None or len(x.shape) < 3:
        return f"the input's shape {x.shape} is not of a known rank >= 3"
    if ir.constant_value(scale) is None or ir.constant_value(bias) is None:
        return "the scale or bias is computed at run time"
    return None


@register
class LegalizeInstanceNorm(RuleSet):
    """InstanceNormalization the target lacks (Core AI has no normalization op) -> its moments."""

    id = "lower::instancenorm"
    after = ("lower::normalization",)  # which changes its rank for a target that has it at rank 4
    # fmt: off
    rules = (
        Rule("instancenorm_to_moments", instance_norm, instance_normalized, constant_affine, "instance_norm(x, s, b) -> (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * s[c] + b[c]   (moments over axes 2..)", legalize=True),
    )
    # fmt: on
