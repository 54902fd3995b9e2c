"""Legalise an inference BatchNormalization the frontend could not fold into a convolution, where the
target has no batch norm (Core AI): the per-channel affine map it is, ``x * s + t`` with
``s = scale / sqrt(var + eps)`` and ``t = bias - mean * s`` folded when the graph is rewritten. It
runs in every pipeline and fires only where the target refuses the node.

The same arithmetic in another order (the constants are rounded once to float32): not bit-exact.
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet
from bridgec.passes.lower.normalization import batch_norm


def affine(op, x, scale, bias, mean, var, epsilon, momentum, training_mode):
    values = [ir.constant_value(t).astype(np.float64) for t in (scale, bias, mean, var)]
    s = values[0] / np.sqrt(values[3] + float(epsilon))
    t = values[1] - values[2] * s
    channels = [1, -1] + [1] * (len(x.shape) - 2)
    dtype = np.dtype(x.dtype)
    scaled = op.Mul(x, op.const(s.reshape(channels), dtype))
    scaled.shape = x.shape
    return op.Add(scaled, op.const(t.reshape(channels), dtype))


def inference_constants(x, scale, bias, mean, var, training_mode) -> str | None:
    if training_mode is not None and int(training_mode):
        return "training mode (the batch's own statistics)"
    if any(ir.constant_value(t) is None for t in (scale, bias, mean, var)):
        return "scale, bias, mean and variance are not all constants"
    if x.shape is None or len(x.shape) < 2:
        return f"the input's rank is not known or < 2 ({x.shape})"
    return None


@register
class LegalizeBatchNormAffine(RuleSet):
    """BatchNormalization (inference), where the target has none -> Mul, Add by folded per-channel constants."""

    id = "lower::batchnorm_affine"
    after = ("lower::normalization",)
    # fmt: off
    rules = (
        Rule("batchnorm_to_mul_add", batch_norm, affine, inference_constants, "bn(x) -> x * (scale / sqrt(var + eps)) + (bias - mean * scale / sqrt(var + eps))", legalize=True),
    )
    # fmt: on
