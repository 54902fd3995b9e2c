"""Convolution and normalisation."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.backends.coreml.ops import Emitter

_SAME = {"SAME_UPPER": "BOTTOM_RIGHT_HEAVY", "SAME_LOWER": "TOP_LEFT_HEAVY"}


def _conv_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D only; constant weights and bias; auto_pad NOTSET, VALID or SAME_*."""
    weight = ir.constant_value(node.inputs[1])
    if weight is None:
        return "Conv weights must be constant"
    if weight.ndim != 4:
        return f"only 2-D convolution maps to Core ML's convolution layer (weights are {weight.ndim - 2}-D)"
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]) and ir.constant_value(node.inputs[2]) is None:
        return "Conv bias must be constant"
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", *_SAME):
        return f"auto_pad {node.attrs['auto_pad']} is not supported"
    return None


def _conv(ctx, node: gs.Node) -> None:
    weight = np.asarray(ir.constant_value(node.inputs[1]), dtype=np.float32)  # (out, in/groups, kh, kw)
    bias = None
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        bias = np.asarray(ir.constant_value(node.inputs[2]), dtype=np.float32)
    out_channels, kernel_channels, kh, kw = weight.shape
    strides = list(node.attrs.get("strides", [1, 1]))
    dilations = list(node.attrs.get("dilations", [1, 1]))
    pads = list(node.attrs.get("pads", [0, 0, 0, 0]))  # top, left, bottom, right
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    kwargs = {}
    if auto_pad in _SAME:
        kwargs = {"border_mode": "same", "same_padding_asymmetry_mode": _SAME[auto_pad]}
    else:
        if auto_pad == "VALID":
            pads = [0, 0, 0, 0]
        kwargs = {
            "border_mode": "valid",
            "padding_top": pads[0],
            "padding_left": pads[1],
            "padding_bottom": pads[2],
            "padding_right": pads[3],
        }
    ctx.builder.add_convolution(
        name=node.name,
        kernel_channels=kernel_channels,
        output_channels=out_channels,
        height=kh,
        width=kw,
        stride_height=strides[0],
        stride_width=strides[1],
        groups=int(node.attrs.get("group", 1)),
        W=weight.transpose(2, 3, 1, 0),
        b=bias,
        has_bias=bias is not None,
        input_name=ctx.blob(node.inputs[0]),
        output_name=node.outputs[0].name,
        dilation_factors=dilations,
        **kwargs,
    )


def _bn_check(node: gs.Node, target) -> str | None:
    """Restrictions: inference mode; constant scale, bias, mean and variance; rank-4 NCHW input."""
    if any(ir.constant_value(t) is None for t in node.inputs[1:5]):
        return "BatchNormalization scale, bias, mean and variance must be constant"
    if len(node.outputs) > 1 and any(t.outputs for t in node.outputs[1:]):
        return "training-mode BatchNormalization (running statistics outputs) is not supported"
    shape = node.inputs[0].shape
    if shape is not None and len(shape) != 4:
        return f"Core ML batchnorm normalises axis -3; only rank-4 NCHW inputs map (rank {len(shape)})"
    return None


def _bn(ctx, node: gs.Node) -> None:
    gamma, beta, mean, var = (np.asarray(ir.constant_value(t), dtype=np.float32) for t in node.inputs[1:5])
    ctx.builder.add_batchnorm(
        node.name,
        channels=gamma.shape[0],
        gamma=gamma,
        beta=beta,
        mean=mean,
        variance=var,
        input_name=ctx.blob(node.inputs[0]),
        output_name=node.outputs[0].name,
        epsilon=float(node.attrs.get("epsilon", 1e-5)),
    )


emitters = [
    Emitter("Conv", _conv, _conv_check, layer="convolution"),
    Emitter("BatchNormalization", _bn, _bn_check, layer="batchnorm"),
]
