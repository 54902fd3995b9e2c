"""Convolution and normalisation."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core import ir, ops
from bridgec.passes.lower.normalization import batch_statistics

_SAME = {"SAME_UPPER": "BOTTOM_RIGHT_HEAVY", "SAME_LOWER": "TOP_LEFT_HEAVY"}


VOLUME_SPEC = 5  # Convolution3D, Pooling3D, GlobalPooling3D: NeuralNetwork.proto's iOS14 layers


def volume_reason(node: gs.Node, target, layer: str) -> str | None:
    """Why ``target`` cannot hold the 3-D ``layer`` that ``node`` needs (None: it can)."""
    if target is not None and target.spec_version < VOLUME_SPEC:
        return f"3-D {node.op} needs iOS14 or newer (NeuralNetwork's {layer} layer)"
    return None


def _conv_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D or 3-D (iOS14); constant weights and bias; auto_pad NOTSET, VALID or SAME_*
    (3-D SAME_LOWER: a static input D, H and W)."""
    weight = ir.constant_value(node.inputs[1])
    if weight is None:
        return "Conv weights must be constant"
    if weight.ndim not in (4, 5):
        return (
            "only 2-D and 3-D convolution map to Core ML's convolution layers "
            f"(weights are {weight.ndim - 2}-D)"
        )
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]) and ir.constant_value(node.inputs[2]) is None:
        return "Conv bias must be constant"
    if ops.attr(node, "auto_pad") not in ("NOTSET", "VALID", *_SAME):
        return f"auto_pad {node.attrs['auto_pad']} is not supported"
    if weight.ndim == 5:
        padding = _conv3d_padding(node, weight.shape[2:])
        return volume_reason(node, target, "convolution3d") or (padding if isinstance(padding, str) else None)
    return None


def _bias(node: gs.Node) -> np.ndarray | None:
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        return np.asarray(ir.constant_value(node.inputs[2]), dtype=np.float32)
    return None


def _conv(ctx, node: gs.Node) -> None:
    weight = np.asarray(ir.constant_value(node.inputs[1]), dtype=np.float32)  # (out, in/groups, kh, kw)
    if weight.ndim == 5:
        _conv3d(ctx, node, weight)
        return
    bias = _bias(node)
    out_channels, kernel_channels, kh, kw = weight.shape
    strides = list(node.attrs.get("strides", [1, 1]))
    dilations = list(node.attrs.get("dilations", [1, 1]))
    pads = list(node.attrs.get("pads", [0, 0, 0, 0]))  # top, left, bottom, right
    auto_pad = ops.attr(node, "auto_pad")
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
        groups=int(ops.attr(node, "group")),
        W=weight.transpose(2, 3, 1, 0),
        b=bias,
        has_bias=bias is not None,
        input_name=ctx.blob(node.inputs[0]),
        output_name=node.outputs[0].name,
        dilation_factors=dilations,
        **kwargs,
    )


def _conv3d_padding(node: gs.Node, kernel: tuple[int, ...]) -> dict[str, int | str] | str:
    """Convolution3D's padding for ``node``, or why it has none. auto_pad SAME_UPPER is its SAME
    (NeuralNetwork.proto: "enough padding ... such that the output of the convolution has size
    Ceiling(inputShape / stride)", the odd one "added to the back/bottom/right side"); any other
    layout its CUSTOM amounts, SAME_LOWER's from the input's static shape (the odd one in front)."""
    auto_pad = ops.attr(node, "auto_pad")
    if auto_pad == "SAME_UPPER":
        return {"padding_mode": "same"}
    if auto_pad == "SAME_LOWER":
        shape = node.inputs[0].shape
        if shape is None or not all(isinstance(d, int) for d in shape[2:]):
            return "3-D Conv with auto_pad SAME_LOWER needs the input's static D, H and W"
        strides = [int(s) for s in node.attrs.get("strides", [1] * 3)]
        dilations = [int(d) for d in node.attrs.get("dilations", [1] * 3)]
        totals = [
            max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
            for n, k, s, d in zip(shape[2:], kernel, strides, dilations, strict=True)
        ]
        begin, end = [t - t // 2 for t in totals], [t // 2 for t in totals]
    else:
        pads = [0] * 6 if auto_pad == "VALID" else [int(p) for p in node.attrs.get("pads", [0] * 6)]
        begin, end = pads[:3], pads[3:]
    return {
        "padding_mode": "custom",
        "padding_front": begin[0],
        "padding_back": end[0],
        "padding_top": begin[1],
        "padding_bottom": end[1],
        "padding_left": begin[2],
        "padding_right": end[2],
    }


def _conv3d(ctx, node: gs.Node, weight: np.ndarray) -> None:
    """Convolution3D: weights "[outputChannels, kernelChannels, kernelDepth, kernelHeight,
    kernelWidth], where kernelChannels == inputChannels / nGroups", ONNX's own layout."""
    bias = _bias(node)
    out_channels, kernel_channels, kd, kh, kw = weight.shape
    groups = int(ops.attr(node, "group"))
    strides = [int(s) for s in node.attrs.get("strides", [1] * 3)]
    dilations = [int(d) for d in node.attrs.get("dilations", [1] * 3)]
    ctx.builder.add_convolution3d(
        name=node.name,
        input_channels=kernel_channels * groups,
        output_channels=out_channels,
        depth=kd,
        height=kh,
        width=kw,
        W=weight,
        b=bias,
        has_bias=bias is not None,
        groups=groups,
        stride_depth=strides[0],
        stride_height=strides[1],
        stride_width=strides[2],
        dilation_depth=dilations[0],
        dilation_height=dilations[1],
        dilation_width=dilations[2],
        input_name=ctx.blob(node.inputs[0]),
        output_name=node.outputs[0].name,
        **_conv3d_padding(node, (kd, kh, kw)),
    )


def core_ml_epsilon(node: gs.Node) -> float:
    """ONNX's epsilon for a batchnorm layer, whose proto reads 0 as unset (1e-5): an epsilon of 0 is
    given as the smallest normal float, which changes no float32 variance above ~1e-31 (a variance
    of 0 is refused by the checks: ONNX divides by zero there)."""
    eps = float(ops.attr(node, "epsilon"))
    return eps if eps != 0.0 else float(np.finfo(np.float32).tiny)


def layer_norm_params_fit(node: gs.Node, shape: tuple[int, ...]) -> str | None:
    """Why LayerNormalization's Scale/B do not broadcast to the normalised shape (the trailing axes
    from ``axis``), which is the only shape Core ML takes them in; None if they do."""
    axis = int(ops.attr(node, "axis"))
    normalized = shape[axis % len(shape) :]
    for index, name in ((1, "Scale"), (2, "B")):
        if index >= len(node.inputs) or ir.is_empty(node.inputs[index]):
            continue
        given = node.inputs[index].shape
        if given is not None:
            given = list(given)
            while len(given) > len(normalized) and given[0] == 1:  # leading 1s broadcast away
                given.pop(0)
        if (
            given is None
            or len(given) > len(normalized)
            or any(g not in (1, n) for g, n in zip(given[::-1], normalized[::-1], strict=False))
        ):
            return f"LayerNormalization {name} of shape {given} does not broadcast to the normalised shape {normalized}"
    return None


def layer_norm_param(value: np.ndarray, normalized: tuple[int, ...]) -> np.ndarray:
    """Scale/B in exactly the normalised shape, as Core ML wants them (``layer_norm_params_fit``
    said they broadcast to it, leading 1s aside)."""
    value = np.asarray(value, dtype=np.float32)
    keep = min(value.ndim, len(normalized))
    return np.broadcast_to(value.reshape(value.shape[value.ndim - keep :]), normalized).copy()


def _bn_check(node: gs.Node, target) -> str | None:
    """Restrictions: inference mode; constant scale, bias, mean and variance; rank-4 NCHW input."""
    training = batch_statistics(node)
    if training:
        return training
    if any(ir.constant_value(t) is None for t in node.inputs[1:5]):
        return "BatchNormalization scale, bias, mean and variance must be constant"
    shape = node.inputs[0].shape
    if shape is not None and len(shape) != 4:
        return f"Core ML batchnorm normalises axis -3; only rank-4 NCHW inputs map (rank {len(shape)})"
    if float(ops.attr(node, "epsilon")) == 0.0 and not (ir.constant_value(node.inputs[4]) > 0).all():
        return "BatchNormalization with epsilon 0 and a zero variance (Core ML reads epsilon 0 as 1e-5)"
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
        epsilon=core_ml_epsilon(node),
    )


# --- ConvTranspose -------------------------------------------------------------------------------


def conv_transpose_crops(
    node: gs.Node, in_spatial: tuple[int, ...], kernel: tuple[int, ...]
) -> tuple[list[int], list[int], list[int]] | str:
    """ONNX's ConvTranspose output as a crop of the full map ``s (in - 1) + (k - 1) d + 1``: per
    spatial axis (rows cropped at the begin, rows cropped at the end, output size). A negative end
    crop means rows past the full map (output_padding beyond the end pad), which ONNX fills with
    the bias alone.

    ONNX's rules: output = full + output_padding - pads; an output_shape (which takes precedence)
    or auto_pad SAME (output = in * stride) gives the total padding, split with the odd row at the
    end for SAME_UPPER and at the begin otherwise. A negative total (an output larger than that)
    has no rule: ONNX's formula would pad negatively, onnxruntime clamps it to 0 and ignores the
    size asked for; refused (a string says why)."""
    n = len(kernel)
    strides = [int(s) for s in node.attrs.get("strides", [1] * n)]
    dilations = [int(d) for d in node.attrs.get("dilations", [1] * n)]
    extra = [int(p) for p in node.attrs.get("output_padding", [0] * n)]
    auto_pad = ops.attr(node, "auto_pad")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    full = [
        s * (i - 1) + (k - 1) * d + 1
        for i, k, s, d in zip(in_spatial, kernel, strides, dilations, strict=True)
    ]
    if "output_shape" in node.attrs or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [int(d) for d in node.attrs.get("output_shape", [])[-n:]] or [
            i * s for i, s in zip(in_spatial, strides, strict=True)
        ]
        total = [f + e - w for f, e, w in zip(full, extra, wanted, strict=True)]
        if any(t < 0 for t in total):
            return "ConvTranspose output_shape (or auto_pad SAME's) larger than the full deconvolution"
        light, heavy = [t // 2 for t in total], [t - t // 2 for t in total]
        begin = light if auto_pad == "SAME_UPPER" else heavy
    else:
        pads = [0] * 2 * n if auto_pad == "VALID" else [int(p) for p in node.attrs.get("pads", [0] * 2 * n)]
        begin = pads[:n]
        wanted = [f + e - b - p for f, e, b, p in zip(full, extra, begin, pads[n:], strict=True)]
    return begin, [f - b - w for f, b, w in zip(full, begin, wanted, strict=True)], wanted


def conv_transpose_form(crops: tuple[list[int], list[int], list[int]] | str) -> str | None:
    """Why a ConvTranspose with these crops (``conv_transpose_crops``) has no documented Core ML
    form, or None.

    Cropping is Core ML's padding (NeuralNetwork ValidPadding: H_out = (H_in - 1) stride + k - pads;
    MIL conv_transpose: Dout = full - pad). Rows past the full map need an explicit output shape,
    with which NeuralNetwork.proto ignores the padding: so only with nothing cropped at the begin."""
    if isinstance(crops, str):
        return crops
    begin, end, _ = crops
    if any(e < 0 for e in end) and any(begin):
        return (
            "ConvTranspose output_padding beyond the end padding together with begin padding: Core ML "
            "ignores the padding when the output shape is given"
        )
    return None


def _conv_transpose_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D only; constant weights and bias; no dilations; a static input H and W; an
    output_padding beyond the end padding only without begin padding."""
    weight = ir.constant_value(node.inputs[1])
    if weight is None:
        return "ConvTranspose weights must be constant"
    if weight.ndim == 5:
        # the proto's deconvolution weight layout ("[outputChannels / nGroups, kernelChannels, ...],
        # where" and no more) is the reverse of what coremltools writes, and it gives no output size
        # for any padding type nor where an outputShape places the map: nothing to check it against
        return (
            "3-D ConvTranspose: NeuralNetwork.proto does not define Convolution3D's deconvolution "
            "(weight layout, output size, padding); --format mlprogram takes it"
        )
    if weight.ndim != 4:
        return f"only 2-D ConvTranspose maps to Core ML's deconvolution (weights are {weight.ndim - 2}-D)"
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]) and ir.constant_value(node.inputs[2]) is None:
        return "ConvTranspose bias must be constant"
    if any(int(d) != 1 for d in node.attrs.get("dilations", [1, 1])):
        return "ConvTranspose with dilations: Core ML's deconvolution ignores dilation"
    shape = node.inputs[0].shape
    if shape is None or len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
        return "ConvTranspose needs the input's static H and W to size the output"
    return conv_transpose_form(conv_transpose_crops(node, tuple(shape[2:]), tuple(weight.shape[2:])))


def _conv_transpose(ctx, node: gs.Node) -> None:
    weight = np.asarray(ir.constant_value(node.inputs[1]), dtype=np.float32)  # (in, out/groups, kh, kw)
    bias = None
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        bias = np.asarray(ir.constant_value(node.inputs[2]), dtype=np.float32)
    in_channels, out_per_group, kh, kw = weight.shape
    groups = int(ops.attr(node, "group"))
    strides = [int(s) for s in node.attrs.get("strides", [1, 1])]
    begin, end, size = conv_transpose_crops(node, tuple(node.inputs[0].shape[2:]), (kh, kw))
    if any(e < 0 for e in end):
        # rows past the full map: the output shape sizes the result and the padding is ignored
        # (there is none, see conv_transpose_form); an axis with an end crop is cut by it too
        padding, output_shape = [0, 0, 0, 0], size
    else:
        padding, output_shape = [begin[0], end[0], begin[1], end[1]], None
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
        output_shape=output_shape,
        input_name=ctx.blob(node.inputs[0]),
        output_name=node.outputs[0].name,
        padding_top=padding[0],
        padding_bottom=padding[1],
        padding_left=padding[2],
        padding_right=padding[3],
    )


# --- InstanceNormalization -----------------------------------------------------------------------


def _instance_norm_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant scale and bias; rank-4 NCHW input."""
    if any(ir.constant_value(t) is None for t in node.inputs[1:3]):
        return "InstanceNormalization scale and bias must be constant"
    shape = node.inputs[0].shape
    if shape is None or len(shape) != 4:
        return "Core ML's instance normalisation normalises H, W of a rank-4 NCHW input"
    if float(ops.attr(node, "epsilon")) == 0.0:
        # a constant plane has variance 0: ONNX divides by zero there, Core ML reads epsilon 0 as 1e-5
        return "InstanceNormalization with epsilon 0 (Core ML reads epsilon 0 as 1e-5)"
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
        epsilon=core_ml_epsilon(node),
    )


emitters = [
    Emitter("Conv", _conv, _conv_check, layer="convolution"),
    Emitter("ConvTranspose", _conv_transpose, _conv_transpose_check, layer="convolution"),
    Emitter("BatchNormalization", _bn, _bn_check, layer="batchnorm"),
    Emitter("InstanceNormalization", _instance_norm, _instance_norm_check, layer="batchnorm"),
]
