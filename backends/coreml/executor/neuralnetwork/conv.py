"""``convolution`` (ConvolutionLayerParams), including grouped/depthwise and deconvolution.

Semantics from NeuralNetwork.proto, ConvolutionLayerParams: input "A blob with rank greater than or
equal to 4 ... leading dimensions, starting from 0 to -4 (inclusive), are all treated as batch";
weights "[outputChannels, kernelChannels, kernelHeight, kernelWidth], where kernelChannels ==
inputChannels / nGroups" for a convolution and "[kernelChannels, outputChannels / nGroups,
kernelHeight, kernelWidth], where kernelChannels == inputChannels" for a deconvolution; "Input and
kernels are divided into g groups and convolution / deconvolution is applied within the groups
independently"; dilation: "KernelSize[0] <-- (kernelSize[0]-1) * dilationFactor[0] + 1", "ignored if
isDeconvolution == true"; "Padded values are all zeros"; the output size from ValidPadding /
SamePadding (_spatial.py) or, for a deconvolution, ``outputShape`` (see ``_deconvolution``).
A convolution is a cross-correlation (no kernel flip) and a deconvolution its transpose, each output
pixel scattering kernel x input: the proto does not spell either out; both are pinned against torch
in tests/backends/coreml/executor/neuralnetwork/test_exec_nn_conv.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bridgec.backends.coreml.executor._depthwise import depthwise
from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import f32, fold_batch, pair, unfold_batch
from bridgec.backends.coreml.executor.neuralnetwork._spatial import (
    pad_spatial,
    padding_3d,
    padding_name,
    same_pads,
    valid_pads,
    windowed_size,
)
from bridgec.backends.coreml.executor.weights import weight_array


def convolution(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.convolution
    if np.ndim(inputs[0]) < 4:
        raise ValueError(
            f"convolution needs a blob of rank >= 4 (ConvolutionLayerParams), got {np.shape(inputs[0])}"
        )
    if len(inputs) != 1:
        # The weights-as-second-input form has no documented layout in the proto; refuse rather
        # than guess.
        raise UnsupportedLayerError(layer.name, "convolution", "weights supplied as a second input")
    x, lead = fold_batch(f32(inputs[0]), 3, "convolution")
    groups = int(p.nGroups) or 1
    kernel = pair(p.kernelSize, (3, 3))
    stride = pair(p.stride, (1, 1))
    c_out = int(p.outputChannels)
    k_ch = int(p.kernelChannels)
    c_in = x.shape[1]
    if p.isDeconvolution:
        y = _deconvolution(p, x, groups, kernel, stride, c_in, c_out, k_ch)
    else:
        if k_ch * groups != c_in:
            raise ValueError(
                f"input has {c_in} channels but kernelChannels={k_ch} x nGroups={groups} = {k_ch * groups}"
            )
        w = weight_array(p.weights, (c_out, k_ch) + kernel, "convolution weights")
        y = _convolution(p, x, w, groups, kernel, stride, pair(p.dilationFactor, (1, 1)))
    if p.hasBias:
        y += weight_array(p.bias, (c_out,), "convolution bias")[:, None, None]
    return [unfold_batch(y, lead)]


def _convolution(
    p: Any,
    x: np.ndarray,
    w: np.ndarray,
    groups: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    b, c_in, h, wd = x.shape
    c_out = w.shape[0]
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    eff = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    if p.WhichOneof("ConvolutionPaddingType") == "same":
        pads = same_pads(p.same, (h, wd), eff, stride)
    else:
        pads = valid_pads(p.valid)
    ho = windowed_size(h, pads[0] + pads[1], eff[0], sh)
    wo = windowed_size(wd, pads[2] + pads[3], eff[1], sw)
    xp = pad_spatial(x, pads)

    if kh == kw == 1:
        # A 1x1 kernel is a plain matmul over channels once the stride subsampling is applied.
        cols = xp[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]
        cols = cols.reshape(b, groups, c_in // groups, ho * wo)
        wg = w.reshape(groups, c_out // groups, c_in // groups)
        return np.matmul(wg, cols).reshape(b, c_out, ho, wo)

    if groups == c_in:
        return _depthwise(xp, w, (ho, wo), stride, dilation)

    # windows[b, c, i, j, u, v] = xp[b, c, i + u, j + v]; dilation and stride are then plain
    # slicing of this view, so nothing is copied until the im2col gather below.
    windows = sliding_window_view(xp, eff, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]
    cg = c_in // groups
    # im2col: [B, G, Cg*kh*kw, Ho*Wo], ordered like the weight's trailing [Cg, kh, kw] axes.
    cols = windows.reshape(b, groups, cg, ho, wo, kh, kw).transpose(0, 1, 2, 5, 6, 3, 4)
    cols = np.ascontiguousarray(cols).reshape(b, groups, cg * kh * kw, ho * wo)
    wg = w.reshape(groups, c_out // groups, cg * kh * kw)
    return np.matmul(wg, cols).reshape(b, c_out, ho, wo)


def _depthwise(
    xp: np.ndarray,
    w: np.ndarray,
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """One input channel per group: accumulate one multiply per kernel tap (``_depthwise``).

    im2col would copy kh*kw times the activation only to do a per-channel dot product, and einsum
    over the strided window view is several times slower than these kh*kw vectorised passes.
    """
    c_in, c_out = xp.shape[1], w.shape[0]
    if c_out != c_in:
        # Channel multiplier m: output channel o reads input channel o // m.
        xp = np.repeat(xp, c_out // c_in, axis=1)
    kernel = w.shape[2:]
    return depthwise(xp, w.reshape(c_out, -1), kernel, out_hw, stride, dilation, zero_start=False)


def _deconvolution(
    p: Any,
    x: np.ndarray,
    groups: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    c_in: int,
    c_out: int,
    k_ch: int,
) -> np.ndarray:
    if k_ch != c_in:
        raise ValueError(f"deconvolution: kernelChannels={k_ch} must equal the input channels {c_in}")
    b, _, h, wd = x.shape
    kh, kw = kernel
    sh, sw = stride
    og = c_out // groups
    cg = c_in // groups
    # Spec layout is [C_in, C_out/G, kh, kw]; dilationFactor "is ignored if isDeconvolution == true".
    w = weight_array(p.weights, (c_in, og, kh, kw), "deconvolution weights", channel_axis=1)
    wg = w.reshape(groups, cg, og * kh * kw).transpose(0, 2, 1)  # [G, Og*kh*kw, Cg]
    xg = x.reshape(b, groups, cg, h * wd)
    # Every input pixel scatters a kh x kw patch; compute all patches with one matmul...
    patches = np.matmul(wg, xg).reshape(b, groups * og, kh, kw, h, wd)
    full_h, full_w = (h - 1) * sh + kh, (wd - 1) * sw + kw
    full = np.zeros((b, c_out, full_h, full_w), dtype=np.float32)
    # ...then overlap-add them: one strided accumulation per kernel tap, not per pixel.
    for u in range(kh):
        for v in range(kw):
            full[:, :, u : u + (h - 1) * sh + 1 : sh, v : v + (wd - 1) * sw + 1 : sw] += patches[:, :, u, v]

    if len(p.outputShape):
        # "For Deconvolution, ConvolutionPaddingType (valid or same) is ignored when outputShape is
        # set" (ConvolutionLayerParams): nothing is cropped at the start. The proto does not say
        # where the map sits in a larger output nor what fills the rest; we take it at the origin,
        # the rest receiving only the bias (tested against torch's output_padding, which is that).
        pt, pl = 0, 0
        out_h, out_w = (int(v) for v in p.outputShape)
    elif p.WhichOneof("ConvolutionPaddingType") == "same":
        # SamePadding: "With Deconvolution: H_out = H_in * stride[0]"; which side loses the odd row
        # is not stated for deconvolution: we follow the asymmetry mode as for convolution.
        out_h, out_w = h * sh, wd * sw
        pt, _, pl, _ = same_pads_deconv(p.same, (full_h, full_w), (out_h, out_w))
    else:
        # ValidPadding: "With Deconvolution: H_out = (H_in-1) * stride[0] + kernelSize[0] -
        # (topPaddingAmount + bottomPaddingAmount)": the padding amounts crop the full map.
        pt, pb, pl, pr = valid_pads(p.valid)
        out_h, out_w = full_h - pt - pb, full_w - pl - pr
    out = np.zeros((b, c_out, out_h, out_w), dtype=np.float32)
    src = full[:, :, pt : pt + out_h, pl : pl + out_w]
    out[:, :, : src.shape[2], : src.shape[3]] = src
    return out


def same_pads_deconv(
    same: Any, full_hw: tuple[int, int], out_hw: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Amount cropped from the full deconvolution map so that out = in * stride."""
    top_left_heavy = same.asymmetryMode == 1
    pads: list[int] = []
    for full, out in zip(full_hw, out_hw, strict=True):
        total = max(0, full - out)
        light = total // 2
        pads += [total - light, light] if top_left_heavy else [light, total - light]
    return pads[0], pads[1], pads[2], pads[3]


# --- convolution3d -------------------------------------------------------------------------------


def convolution3d(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """``convolution3d`` (Convolution3DLayerParams, iOS14). From NeuralNetwork.proto: input "A blob
    of rank 5 ... [batch, channels, depth, height, width]"; weights "[outputChannels, kernelChannels,
    kernelDepth, kernelHeight, kernelWidth], where kernelChannels == inputChannels / nGroups"; "Input
    and kernels are divided into g groups and convolution is applied within the groups
    independently"; bias "of size [outputChannels]"; every size "Must be a positive integer"; padding
    per ``_padding3d``. A dilation spreads the kernel taps as in the 2-D layer ("KernelSize <--
    (kernelSize - 1) * dilationFactor + 1"), the 3-D message naming the fields only.

    The deconvolution (``isDeconvolution``) is refused: the proto's weight layout for it stops
    mid-sentence ("[outputChannels / nGroups, kernelChannels, ...], where"), and it gives neither
    its output size for any padding type nor where an ``outputShape`` places the result."""
    p = layer.convolution3d
    x = f32(inputs[0])
    if x.ndim != 5:
        raise ValueError(f"convolution3d needs a rank-5 blob (Convolution3DLayerParams), got {x.shape}")
    if len(inputs) != 1:
        raise UnsupportedLayerError(layer.name, "convolution3d", "weights supplied as a second input")
    if p.isDeconvolution:
        raise UnsupportedLayerError(
            layer.name, "convolution3d", "deconvolution: NeuralNetwork.proto does not define its output"
        )
    kernel = _positive((p.kernelDepth, p.kernelHeight, p.kernelWidth), "kernel")
    stride = _positive((p.strideDepth, p.strideHeight, p.strideWidth), "stride")
    dilation = _positive((p.dilationDepth, p.dilationHeight, p.dilationWidth), "dilation")
    (groups,) = _positive((p.nGroups,), "nGroups")
    c_in, c_out = int(p.inputChannels), int(p.outputChannels)
    if x.shape[1] != c_in or c_in % groups or c_out % groups:
        raise ValueError(
            f"convolution3d: input channels {x.shape[1]} (inputChannels {c_in}), outputChannels {c_out} "
            f"and nGroups {groups} do not agree"
        )
    w = weight_array(p.weights, (c_out, c_in // groups, *kernel), "convolution3d weights")
    effective = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True))
    pads = _padding3d(p, x.shape[2:], effective, stride, "convolution3d")
    out = [
        windowed_size(n, b + e, k, s)
        for n, (b, e), k, s in zip(x.shape[2:], pads, effective, stride, strict=True)
    ]
    xp = np.pad(x, ((0, 0), (0, 0), *pads))  # "Padded values are all zeros"
    # windows[b, c, i, j, l, u, v, t] = xp[b, c, i + u, j + v, l + t]; strides and dilations slice it
    windows = sliding_window_view(xp, effective, axis=(2, 3, 4))
    windows = windows[
        :, :, :: stride[0], :: stride[1], :: stride[2], :: dilation[0], :: dilation[1], :: dilation[2]
    ]
    windows = windows[:, :, : out[0], : out[1], : out[2]]
    batch = x.shape[0]
    cg = c_in // groups
    windows = windows.reshape(batch, groups, cg, *out, *kernel)
    wg = w.reshape(groups, c_out // groups, cg, *kernel)
    y = np.einsum("bgcdhwxyz,gocxyz->bgodhw", windows, wg, optimize=True).reshape(batch, c_out, *out)
    if p.hasBias:
        y = y + weight_array(p.bias, (c_out,), "convolution3d bias")[:, None, None, None]
    return [y.astype(np.float32, copy=False)]


def _positive(values: tuple[int, ...], what: str) -> tuple[int, ...]:
    if any(int(v) < 1 for v in values):
        raise ValueError(f"{what} {tuple(values)}: NeuralNetwork.proto's 3-D layers need positive integers")
    return tuple(int(v) for v in values)


def _padding3d(
    p: Any, spatial: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...], kind: str
) -> list[tuple[int, int]]:
    """(begin, end) zeros per spatial axis, from the PaddingType comment of Convolution3DLayerParams:
    CUSTOM and VALID as ``padding_3d`` reads them; SAME "adds enough padding to each dimension such
    that the output of the convolution has size Ceiling(inputShape / stride). Padding is added evenly
    to both sides of each dimension unless the total padding to add is odd, in which case it is
    added to the back/bottom/right side" (the message's example: a total of 3 is 1 in front and 2 at
    the back). ``kernel`` is the effective (dilated) kernel."""
    if padding_name(p, "PaddingType") == "SAME":
        totals = [
            max(0, (-(-n // s) - 1) * s + k - n) for n, k, s in zip(spatial, kernel, stride, strict=True)
        ]
        return [(t // 2, t - t // 2) for t in totals]
    return padding_3d(p, "PaddingType", kind)
