"""Legalise a 1-D or 2-D Conv where the target's convolution has no padding or no bias (Core AI's
``conv2d`` has neither): the padding as a zero Pad before it, the bias as an Add after it. It runs
in every pipeline, ``-O none`` included, and fires only where the target refuses the Conv as it is.

A zero Pad then an unpadded convolution reads the same cells as the padded one (ONNX pads with
zeros); the bias is added to every output position of its channel, which is ``y + b[1, C, 1, 1]``.
Exact up to the order of the additions (the bias is added last instead of first).
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet
from bridgec.passes.lower.conv1d import conv, conv_bias  # the Conv patterns, with and without a bias


def _padded(op, x, pads):
    """x, zero-padded by a Conv's spatial ``pads`` ([b_2, b_3, ..., e_2, e_3, ...])."""
    if pads is None or not any(pads):
        return x
    k = len(pads) // 2
    begin, end = [int(p) for p in pads[:k]], [int(p) for p in pads[k:]]
    wide = op.Pad(x, op.const([0, 0, *begin, 0, 0, *end], np.int64))
    wide.shape = [*x.shape[:2], *(n + b + e for n, b, e in zip(x.shape[2:], begin, end, strict=True))]
    return wide


def _unpadded_conv(op, x, w, dilations, group, kernel_shape, pads, strides):
    attrs = {"group": int(group)}
    for name, value in (("dilations", dilations), ("kernel_shape", kernel_shape), ("strides", strides)):
        if value is not None:
            attrs[name] = [int(v) for v in value]
    y = op.Conv(_padded(op, x, pads), w, **attrs)
    y.shape = op.anchor.outputs[0].shape
    return y


def explicit_pads(op, x, w, auto_pad, dilations, group, kernel_shape, pads, strides):
    return _unpadded_conv(op, x, w, dilations, group, kernel_shape, pads, strides)


def explicit_pads_bias(op, x, w, b, auto_pad, dilations, group, kernel_shape, pads, strides):
    y = _unpadded_conv(op, x, w, dilations, group, kernel_shape, pads, strides)
    bias = ir.constant_value(b)
    channels = [1, -1] + [1] * (len(x.shape) - 2)
    return op.Add(y, op.const(bias.reshape(channels), bias.dtype))


def _spatial_2d(x, auto_pad) -> str | None:
    # rank 3 too: Core AI's emitter takes a 1-D Conv as 2-D over a unit axis, without pads or bias
    if x.shape is None or len(x.shape) not in (3, 4) or not all(isinstance(d, int) for d in x.shape):
        return f"the input's shape {x.shape} is not a static rank-3 or rank-4 shape"
    mode = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    return None if mode in (None, "NOTSET") else f"auto_pad {mode} (pads not explicit)"


def padded(x, auto_pad, pads) -> str | None:
    return _spatial_2d(x, auto_pad) or (None if pads is not None and any(pads) else "no padding")


def with_bias(x, b, auto_pad) -> str | None:
    if ir.constant_value(b) is None:
        return "the bias is not a constant"
    return _spatial_2d(x, auto_pad)


@register
class LegalizeConvParts(RuleSet):
    """A 1-D or 2-D Conv with padding or a bias the target's convolution lacks -> Pad, Conv, Add."""

    id = "lower::conv_parts"
    after = ("lower::conv1d",)
    # fmt: off
    rules = (
        Rule("conv_bias", conv_bias, explicit_pads_bias, with_bias, "conv(x, w, b, pads) -> conv(pad(x, pads), w) + b[1, C, 1, 1]", legalize=True),
        Rule("conv_pads", conv, explicit_pads, padded, "conv(x, w, pads) -> conv(pad(x, pads), w)", legalize=True),
    )
    # fmt: on
