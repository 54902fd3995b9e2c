"""Conv and ConvTranspose (1-D to 3-D): MIL conv / conv_transpose with explicit padding."""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import MilEmitter, constant_inputs, static_shape
from bridgec.backends.coreml.neuralnetwork_layers.conv import conv_transpose_crops, conv_transpose_form
from bridgec.core import ir, ops


def _spatial(node: gs.Node, weight_rank: int) -> tuple[list[int], list[int], list[int]]:
    spatial = weight_rank - 2
    strides = [int(s) for s in node.attrs.get("strides", [1] * spatial)]
    dilations = [int(d) for d in node.attrs.get("dilations", [1] * spatial)]
    kernel = [int(k) for k in node.attrs.get("kernel_shape", [])]
    return strides, dilations, kernel


def mil_pads(
    node: gs.Node, in_spatial: tuple[int, ...], kernel: list[int], strides: list[int], dilations
) -> list[int]:
    """ONNX padding as MIL's custom pad list [begin_0, end_0, begin_1, end_1, ...].

    ONNX lists all begins then all ends; SAME_UPPER/SAME_LOWER put the odd pixel at the end/begin.
    """
    auto = str(ops.attr(node, "auto_pad"))
    spatial = len(kernel)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(in_spatial, kernel, strides, dilations, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            pads += [small, large] if auto == "SAME_UPPER" else [large, small]
        return pads
    if auto == "VALID":
        return [0] * (2 * spatial)
    onnx_pads = [int(p) for p in node.attrs.get("pads", [0] * (2 * spatial))]
    return [p for i in range(spatial) for p in (onnx_pads[i], onnx_pads[i + spatial])]


def _conv_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant weight and bias."""
    return constant_inputs(node, (1, 2), "the weight/bias")


def _conv(ctx, node: gs.Node) -> None:
    weight = np.asarray(ctx.require(node, 1), dtype=np.float32)
    bias = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]) else None
    strides, dilations, kernel = _spatial(node, weight.ndim)
    kernel = kernel or list(weight.shape[2:])
    x = ctx.value(node.inputs[0])
    pads = mil_pads(node, tuple(x.shape[2:]), kernel, strides, dilations)
    y = ctx.mb.conv(
        x=x,
        weight=weight,
        bias=None if bias is None else np.asarray(bias, dtype=np.float32),
        strides=strides,
        dilations=dilations,
        pad_type="custom",
        pad=pads,
        groups=int(ops.attr(node, "group")),
        name=ctx.name(node.outputs[0]),
    )
    ctx.set(node.outputs[0], y)


def _conv_transpose_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant weight and bias; a static input shape; an output_padding beyond the end
    padding only without begin padding."""
    reason = constant_inputs(node, (1, 2), "the weight/bias")
    if reason:
        return reason
    x, w = static_shape(node.inputs[0]), static_shape(node.inputs[1])
    if x is None or w is None:
        return "ConvTranspose needs static input and weight shapes to size the output"
    return conv_transpose_form(conv_transpose_crops(node, x[2:], w[2:]))


def _conv_transpose(ctx, node: gs.Node) -> None:
    weight = np.asarray(ctx.require(node, 1), dtype=np.float32)
    bias = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]) else None
    strides, dilations, _ = _spatial(node, weight.ndim)
    groups = int(ops.attr(node, "group"))
    x = ctx.value(node.inputs[0])
    begin, end, size = conv_transpose_crops(node, tuple(int(d) for d in x.shape[2:]), weight.shape[2:])
    params = {}
    if any(e < 0 for e in end):
        # rows past the full map (output_padding beyond the end pad): only output_shape makes them;
        # nothing is cropped at the begin (conv_transpose_form), so the map stays at the origin
        params["output_shape"] = [int(x.shape[0]), weight.shape[1] * groups, *size]
        params["pad_type"] = "valid"
    else:  # conv_transpose's pad crops the full map: Dout = full - pad[2i] - pad[2i+1]
        params["pad_type"] = "custom"
        params["pad"] = [p for b, e in zip(begin, end, strict=True) for p in (b, e)]
    y = ctx.mb.conv_transpose(
        x=x,
        weight=weight,
        bias=None if bias is None else np.asarray(bias, dtype=np.float32),
        strides=strides,
        dilations=dilations,
        groups=groups,
        name=ctx.name(node.outputs[0]),
        **params,
    )
    ctx.set(node.outputs[0], y)


emitters = [
    MilEmitter("Conv", _conv, _conv_check, mil_ops=("conv",)),
    MilEmitter("ConvTranspose", _conv_transpose, _conv_transpose_check, mil_ops=("conv_transpose",)),
]
