"""Linear algebra and neural-network ops: batch_matmul, conv2d/3d, max_pool_2d/3d, sum_pool_2d/3d,
softmax, pad and interpolate.

Each semantic is from the op's ODS docstring in ``coreai/_compiler/dialects/_coreai_ops_gen.py``
(quoted in the comments). Sums run in float64 and are rounded once to the declared result type.
"""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreai.executor.elementwise import _wide
from bridgec.backends.coreai.executor.registry import OpCall, register
from bridgec.core.words import plural


@register("coreai.batch_matmul")
def _batch_matmul(call: OpCall) -> np.ndarray:
    # coreai.batch_matmul: "[*batch, M, K] and [*batch, K, N] ... output has shape [*batch, M, N]";
    # "All batch dimensions (x.shape[:-2] and y.shape[:-2]) must be equal."
    x, y = call.inputs
    if x.ndim < 2 or y.ndim < 2 or x.shape[:-2] != y.shape[:-2] or x.shape[-1] != y.shape[-2]:
        raise call.fail(
            f"shapes {list(x.shape)} and {list(y.shape)} (batch dims must be equal, K must match)"
        )
    return np.matmul(_wide(x), _wide(y))


@register("coreai.decomposable.broadcasting_batch_matmul")
def _broadcasting_batch_matmul(call: OpCall) -> np.ndarray:
    # "it is assumed that the innermost two dimensions are the contraction dimensions, and inputs have
    # broadcastable batch dimensions" (numpy's matmul broadcasting, coreai.broadcast_to's rules)
    x, y = call.inputs
    if x.ndim < 2 or y.ndim < 2:
        raise call.fail(f"shapes {list(x.shape)} and {list(y.shape)}: both need rank >= 2")
    return np.matmul(_wide(x), _wide(y))


def _spatial(call: OpCall, index: int, what: str, rank: int) -> tuple[int, ...]:
    value = np.asarray(call.inputs[index]).reshape(-1)
    if value.size != rank:
        raise call.fail(f"{what} has {value.size} values; the op takes {rank} (one per spatial axis)")
    return tuple(int(v) for v in value)


def _windows(x: np.ndarray, kernel, stride, dilation, ceil_mode: bool = False, fill=0.0) -> np.ndarray:
    """(N, C, *out, *k): input[n, c, s_0*o_0 + d_0*k_0, ...] over the spatial axes (2 or 3 of them)."""
    spatial = len(kernel)
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    if ceil_mode:  # windows that start inside the input but run past its end: the missing cells are `fill`
        sizes = x.shape[2:]
        outs = [-(-(n - e) // s) + 1 for n, e, s in zip(sizes, effective, stride, strict=True)]
        extra = [
            max((o - 1) * s + e - n, 0) for o, s, e, n in zip(outs, stride, effective, sizes, strict=True)
        ]
        x = np.pad(x, [(0, 0), (0, 0), *((0, e) for e in extra)], constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(x, effective, axis=tuple(range(2, 2 + spatial)))
    steps = tuple(slice(None, None, s) for s in stride) + tuple(slice(None, None, d) for d in dilation)
    return view[(slice(None), slice(None), *steps)]


def _conv(call: OpCall) -> np.ndarray:
    # coreai.conv2d / conv3d: input (N, C_in, *spatial), weight (C_out, C_in/groups, *k); "H_out =
    # floor((H - (dilation_H * (k_H - 1)) - 1) / stride_H + 1)" per spatial axis; "Padding is not part
    # of this op"; "`groups` is a 0-D tensor. C_in must be divisible by groups"
    x, weight = _wide(call.inputs[0]), _wide(call.inputs[1])
    rank = x.ndim - 2
    stride, dilation = _spatial(call, 2, "stride", rank), _spatial(call, 3, "dilation", rank)
    groups = int(np.asarray(call.inputs[4]).reshape(()))
    c_in, c_out = x.shape[1], weight.shape[0]
    if c_in % groups or c_out % groups or weight.shape[1] != c_in // groups:
        raise call.fail(f"input channels {c_in}, weight {list(weight.shape)}, groups {groups} do not agree")
    windows = _windows(x, weight.shape[2:], stride, dilation)  # N, C, *out, *k
    n, out = x.shape[0], windows.shape[2 : 2 + rank]
    # every group at once: channels (G, C_in/G) against weights (G, C_out/G, C_in/G, *k)
    grouped = windows.reshape(n, groups, c_in // groups, *windows.shape[2:])
    kernels = weight.reshape(groups, c_out // groups, c_in // groups, *weight.shape[2:])
    out_axes, kernel_axes = "ijk"[:rank], "lmn"[:rank]  # b: batch, g: group, c / o: channel in / out
    y = np.einsum(
        f"bgc{out_axes}{kernel_axes},goc{kernel_axes}->bgo{out_axes}", grouped, kernels, optimize=True
    )
    return y.reshape(n, c_out, *out)


def _max_pool(call: OpCall) -> np.ndarray:
    # coreai.max_pool_2d / max_pool_3d: "output[n, c, h, w] = max over kh in [0, k_h), kw in [0, k_w)
    # of input[n, c, s_h*h + d_h*kh, s_w*w + d_w*kw]"; ceil mode: "H_out = ceil((H_in - eff_k_h) / s_h)
    # + 1"; "No padding is applied"; "NaN in the input propagates to the output"
    x = call.inputs[0]
    rank = x.ndim - 2
    kernel, stride, dilation = (
        _spatial(call, i, what, rank) for i, what in ((1, "kernel_size"), (2, "stride"), (3, "dilation"))
    )
    ceil_mode = bool(np.asarray(call.inputs[4]).reshape(()))
    lowest = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    windows = _windows(x, kernel, stride, dilation, ceil_mode, fill=lowest)
    return windows.max(axis=tuple(range(-rank, 0)))


def _sum_pool(call: OpCall) -> np.ndarray:
    # coreai.sum_pool_2d / sum_pool_3d: "out[n, c, i, j] = sum_{p=0}^{k_h-1} sum_{q=0}^{k_w-1}
    # input[n, c, i*s_h + p*d_h, j*s_w + q*d_w]"; "H_out = floor((H - d_h*(k_h-1) - 1) / s_h) + 1"
    x = _wide(call.inputs[0])
    rank = x.ndim - 2
    kernel, stride, dilation = (
        _spatial(call, i, what, rank) for i, what in ((1, "kernel_size"), (2, "strides"), (3, "dilation"))
    )
    return _windows(x, kernel, stride, dilation).sum(axis=tuple(range(-rank, 0)))


for _rank in (2, 3):
    register(f"coreai.conv{_rank}d")(_conv)
    register(f"coreai.max_pool_{_rank}d")(_max_pool)
    register(f"coreai.sum_pool_{_rank}d")(_sum_pool)


@register("coreai.softmax")
def _softmax(call: OpCall) -> np.ndarray:
    # coreai.softmax: "output_i = exp(x_i - max(x)) / sum_j(exp(x_j - max(x)))" along $axis;
    # "Negative values of $axis wrap around"
    x = _wide(call.inputs[0])
    axis = int(np.asarray(call.inputs[1]).reshape(()))
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


# coreai.pad's modes -> numpy's: "replicate: a copy of the nearest border element", "reflect: mirror
# ... excluding the border element", "symmetric: same as reflect but includes the border element",
# "circular: inserted elements wrap around"
_PAD_MODES = {
    "constant": "constant",
    "replicate": "edge",
    "reflect": "reflect",
    "symmetric": "symmetric",
    "circular": "wrap",
}


@register("coreai.pad")
def _pad(call: OpCall) -> np.ndarray:
    # coreai.pad: "For dimension i, $padding[2*i] elements are inserted before the dimension and
    # $padding[2*i + 1] elements are inserted after it"; $padding_value "used only for constant mode"
    x, padding, value = call.inputs
    mode = call.enum("padding_mode") or "constant"
    if mode not in _PAD_MODES:
        raise call.fail(f"padding mode {mode!r} is not one of Apple's documented modes")
    padding = np.asarray(padding).reshape(-1)
    if padding.size != 2 * x.ndim:
        raise call.fail(f"padding has {padding.size} values for a rank-{x.ndim} input (needs {2 * x.ndim})")
    widths = [(int(padding[2 * i]), int(padding[2 * i + 1])) for i in range(x.ndim)]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(value).reshape(()))
    return np.pad(x, widths, mode=_PAD_MODES[mode])


@register("coreai.interpolate")
def _interpolate(call: OpCall) -> np.ndarray:
    # coreai.interpolate: "coord[k] = (output_idx[k] + 0.5 - offset[k]) / scale[k] - 0.5";
    # "Out-of-bounds input coordinates are clamped to the nearest edge"; linear: "N-linear
    # interpolation" (separable: one axis at a time gives the same weights); nearest_neighbor:
    # "the nearest grid point, using round-to-nearest-ties-to-even rounding"
    x, out_shape, scale, offset = call.inputs
    mode = call.enum("interpolation_mode")
    out_shape = [int(v) for v in np.asarray(out_shape).reshape(-1)]
    scale, offset = np.asarray(scale).reshape(-1), np.asarray(offset).reshape(-1)
    if len(out_shape) != x.ndim:
        raise call.fail(f"output_shape has {plural(out_shape, 'value')} for a rank-{x.ndim} input")
    y = _wide(x)
    for axis, size in enumerate(out_shape):
        n = y.shape[axis]
        coord = (np.arange(size, dtype=scale.dtype) + scale.dtype.type(0.5) - offset[axis]) / scale[axis]
        coord = np.clip(coord - scale.dtype.type(0.5), 0, n - 1).astype(np.float64)
        if mode == "nearest_neighbor":
            y = np.take(y, np.rint(coord).astype(np.int64), axis=axis)
        elif mode == "linear":
            low = np.floor(coord).astype(np.int64)
            high = np.minimum(low + 1, n - 1)
            frac = (coord - low).reshape([-1 if a == axis else 1 for a in range(y.ndim)])
            y = np.take(y, low, axis=axis) * (1 - frac) + np.take(y, high, axis=axis) * frac
        else:
            raise call.fail(f"interpolation mode {mode!r} is not one of Apple's documented modes")
    return y
