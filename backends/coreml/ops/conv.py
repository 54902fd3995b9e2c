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


# --- ConvTranspose -------------------------------------------------------------------------------


def _conv_transpose_pads(
    node: gs.Node, in_hw: tuple[int, int], kernel: tuple[int, int]
) -> tuple[list[int], list[int]]:
    """(pads [top, left, bottom, right], output [H, W]) by ONNX's rules for pads, auto_pad and
    output_shape (which takes precedence: its total padding is split as auto_pad says)."""
    strides = [int(s) for s in node.attrs.get("strides", [1, 1])]
    extra = [int(p) for p in node.attrs.get("output_padding", [0, 0])]
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    full = [strides[i] * (in_hw[i] - 1) + extra[i] + kernel[i] for i in range(2)]
    if "output_shape" in node.attrs or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [int(d) for d in node.attrs.get("output_shape", [])[-2:]] or [
            in_hw[i] * strides[i] for i in range(2)
        ]
        total = [full[i] - wanted[i] for i in range(2)]
        light, heavy = [t // 2 for t in total], [t - t // 2 for t in total]
        begin, end = (light, heavy) if auto_pad == "SAME_UPPER" else (heavy, light)
        return [begin[0], begin[1], end[0], end[1]], wanted
    pads = [0, 0, 0, 0] if auto_pad == "VALID" else [int(p) for p in node.attrs.get("pads", [0, 0, 0, 0])]
    return pads, [full[0] - pads[0] - pads[2], full[1] - pads[1] - pads[3]]


def _conv_transpose_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D only; constant weights and bias; no dilations; an output_shape no larger
    than the full deconvolution."""
    weight = ir.constant_value(node.inputs[1])
    if weight is None:
        return "ConvTranspose weights must be constant"
    if weight.ndim != 4:
        return f"only 2-D ConvTranspose maps to Core ML's deconvolution (weights are {weight.ndim - 2}-D)"
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]) and ir.constant_value(node.inputs[2]) is None:
        return "ConvTranspose bias must be constant"
    if any(int(d) != 1 for d in node.attrs.get("dilations", [1, 1])):
        return "ConvTranspose with dilations: Core ML's deconvolution ignores dilation"
    shape = node.inputs[0].shape
    if shape is None or len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
        return "ConvTranspose needs the input's static H and W to size the output"
    pads, _ = _conv_transpose_pads(node, tuple(shape[2:]), weight.shape[2:])
    if any(p < 0 for p in pads):
        return "ConvTranspose output_shape larger than the full deconvolution (negative padding)"
    return None


def _conv_transpose(ctx, node: gs.Node) -> None:
    weight = np.asarray(ir.constant_value(node.inputs[1]), dtype=np.float32)  # (in, out/groups, kh, kw)
    bias = None
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        bias = np.asarray(ir.constant_value(node.inputs[2]), dtype=np.float32)
    in_channels, out_per_group, kh, kw = weight.shape
    groups = int(node.attrs.get("group", 1))
    strides = [int(s) for s in node.attrs.get("strides", [1, 1])]
    # Core ML crops the valid padding from the full map and extends it to outputShape at the end,
    # which is ONNX's output_padding.
    pads, size = _conv_transpose_pads(node, tuple(node.inputs[0].shape[2:]), (kh, kw))
    ctx.builder.add_convolution(
        name=node.name,
        kernel_channels=in_channels,
        output_channels=out_per_group * groups,
        height=kh,
        width=kw,
        stride_height=strides[0],
        stride_width=strides[1],
        border_mode="valid",
        groups=groups,
        W=weight.transpose(2, 3, 0, 1),
        b=bias,
        has_bias=bias is not None,
        is_deconv=True,
        output_shape=size,
        input_name=ctx.blob(node.inputs[0]),
        output_name=node.outputs[0].name,
        padding_top=pads[0],
        padding_left=pads[1],
        padding_bottom=pads[2],
        padding_right=pads[3],
    )


# --- InstanceNormalization -----------------------------------------------------------------------


def _instance_norm_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant scale and bias; rank-4 NCHW input."""
    if any(ir.constant_value(t) is None for t in node.inputs[1:3]):
        return "InstanceNormalization scale and bias must be constant"
    shape = node.inputs[0].shape
    if shape is None or len(shape) != 4:
        return "Core ML's instance normalisation normalises H, W of a rank-4 NCHW input"
    return None


def _instance_norm(ctx, node: gs.Node) -> None:
    gamma, beta = (np.asarray(ir.constant_value(t), dtype=np.float32) for t in node.inputs[1:3])
    # batchnorm with computeMeanVar and instanceNormalization: statistics per sample and channel
    ctx.builder.add_batchnorm(
        node.name,
        channels=gamma.shape[0],
        gamma=gamma,
        beta=beta,
        input_name=ctx.blob(node.inputs[0]),
        output_name=node.outputs[0].name,
        compute_mean_var=True,
        instance_normalization=True,
        epsilon=float(node.attrs.get("epsilon", 1e-5)),
    )


emitters = [
    Emitter("Conv", _conv, _conv_check, layer="convolution"),
    Emitter("ConvTranspose", _conv_transpose, _conv_transpose_check, layer="convolution"),
    Emitter("BatchNormalization", _bn, _bn_check, layer="batchnorm"),
    Emitter("InstanceNormalization", _instance_norm, _instance_norm_check, layer="batchnorm"),
]
