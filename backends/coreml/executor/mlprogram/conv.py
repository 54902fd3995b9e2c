"""conv and conv_transpose over 1-3 spatial dims (iOS15 conv.py; iOS17 only widens dtypes).

Semantics from the MIL op reference (iOS15 conv.py): conv weight "[C_out, C_in/groups, *K]", "Input
and output channels are split by groups", "d_out[i] = floor [(D_in[i] + pad[2*i] + pad[2*i+1] -
(K[i]-1)*dilations[i] - 1) / strides[i] ] + 1"; conv_transpose weight "[C_in, C_out/groups, *D_in]",
"Dout[i] = (D_in[i]-1)*stride[i] + (K[i]-1) * dilation[i] + 1 - pad[2*i] - pad[2*i-1]" for custom
padding (the pads crop the full map), "Dout = output_shape" when given. A conv is a cross-correlation
and conv_transpose its transpose; the reference does not spell either out (pinned against torch in
tests/backends/coreml/executor/mlprogram/test_exec_mil_conv.py).

Where the reference is silent or contradicts itself:
- pad_type "same": it says both "out spatial shapes are d_out[i] = ceil(d_in[i] / strides[i])" and a
  split from the kernel alone (the odd unit first); we follow the first statement with the odd unit
  after ("same") or before ("same_lower"), as torch's padding="same" does. bridgec's emitters give
  explicit ("custom") pads;
- conv_transpose with output_shape: where the map sits and what fills the rest. We keep the custom
  pad's begin crop and fill past the map with the bias alone (ONNX's output_padding); the
  ConvTranspose emitter uses output_shape only with nothing cropped at the begin.

Both work as one batched matmul per op (im2col for conv, col2im for conv_transpose) because a
Python loop over output pixels would make whole-model checks take minutes.
"""

from __future__ import annotations

import itertools

import numpy as np

from bridgec.backends.coreml.executor._depthwise import depthwise
from bridgec.backends.coreml.executor.mlprogram._op import Op, accumulate_dtype
from bridgec.core.words import plural


def spatial_pads(
    op: Op, in_sizes: tuple[int, ...], kernel: tuple[int, ...], strides: list[int], dilations: list[int]
) -> list[tuple[int, int]]:
    """``(before, after)`` padding per spatial dim for pad_type valid / custom / same / same_lower."""
    n = len(kernel)
    pad_type = op.str("pad_type", "valid")
    if pad_type == "valid":
        return [(0, 0)] * n
    if pad_type == "custom":
        pad = op.ints("pad", [0] * 2 * n)
        if len(pad) != 2 * n:
            raise op.error(
                f"pad has {plural(pad, 'value')}; custom padding needs 2 per spatial dim ({2 * n})"
            )
        return [(pad[2 * i], pad[2 * i + 1]) for i in range(n)]
    if pad_type in ("same", "same_lower"):
        pads = []
        for size, k, s, d in zip(in_sizes, kernel, strides, dilations, strict=True):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            # "same" puts the odd pixel after, "same_lower" before (MIL aggregated_pad docs).
            small = total // 2
            pads.append((small, total - small) if pad_type == "same" else (total - small, small))
        return pads
    raise op.error(f"pad_type {pad_type!r}: expected valid, custom, same or same_lower")


def _params(op: Op, n: int) -> tuple[list[int], list[int], int]:
    strides = op.ints("strides", [1] * n)
    dilations = op.ints("dilations", [1] * n)
    if len(strides) != n or len(dilations) != n:
        raise op.error(
            f"strides {strides} / dilations {dilations} must have {n} values (one per spatial dim)"
        )
    return strides, dilations, op.int("groups", 1)


def _add_bias(op: Op, y: np.ndarray) -> np.ndarray:
    bias = op.get("bias")
    if bias is None:
        return y
    return y + np.asarray(bias, y.dtype).reshape((1, -1) + (1,) * (y.ndim - 2))


def conv(op: Op) -> np.ndarray:
    x, w = op["x"], op["weight"]
    n = x.ndim - 2
    if n < 1 or w.ndim != x.ndim:
        raise op.error(
            f"input {x.shape} and weight {w.shape} must both be [N, C, *spatial] / [Cout, Cin/g, *K]"
        )
    strides, dilations, groups = _params(op, n)
    cout, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    if x.shape[1] != cg * groups or cout % groups:
        raise op.error(
            f"input has {x.shape[1]} channels; weight {w.shape} with groups={groups} expects {cg * groups} "
            f"and Cout divisible by groups"
        )
    acc = accumulate_dtype(x, w)
    pads = spatial_pads(op, x.shape[2:], kernel, strides, dilations)
    xp = x.astype(acc, copy=False)
    if any(before or after for before, after in pads):
        # zeros, then the input inside (np.pad's constant mode, without its per-axis passes)
        xp = np.zeros(
            xp.shape[:2] + tuple(m + b + a for m, (b, a) in zip(xp.shape[2:], pads, strict=True)), acc
        )
        xp[(Ellipsis, *(slice(b, b + m) for m, (b, _) in zip(x.shape[2:], pads, strict=True)))] = x
    out = [(xp.shape[2 + i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1 for i in range(n)]
    if min(out) <= 0:
        raise op.error(
            f"kernel {kernel} (dilations {dilations}) is larger than the padded input {xp.shape[2:]}"
        )
    batch, og = x.shape[0], cout // groups
    wg = w.astype(acc, copy=False).reshape(groups, og, cg, -1)
    if cg == 1 and og == 1:
        # Depthwise: a matmul over a length-1 axis is all overhead; multiply-accumulate instead.
        y = depthwise(xp, wg.reshape(cout, -1), kernel, out, strides, dilations, zero_start=True)
    elif all(k == 1 for k in kernel):
        # A 1x1 kernel's only window is the strided input itself: no im2col copy to make.
        cols = xp[(Ellipsis, *(slice(0, s * (m - 1) + 1, s) for s, m in zip(strides, out, strict=True)))]
        y = np.matmul(wg.reshape(groups, og, cg), cols.reshape(batch, groups, cg, -1))
    else:
        xg = xp.reshape((batch, groups, cg) + xp.shape[2:])
        windows = []
        for offset in itertools.product(*(range(k) for k in kernel)):
            index = tuple(
                slice(o * d, o * d + s * (m - 1) + 1, s)
                for o, d, s, m in zip(offset, dilations, strides, out, strict=True)
            )
            windows.append(xg[(Ellipsis, *index)])
        if cg == 1:
            # A channel multiplier (og > 1): multiply-accumulate per tap, as for depthwise.
            y = np.zeros((batch, groups, og, *out), acc)
            term = np.empty_like(y)
            shape = (1, groups, og) + (1,) * n
            for k, window in enumerate(windows):
                np.multiply(window, wg[:, :, 0, k].reshape(shape), out=term)
                y += term
        else:
            cols = np.stack(windows, axis=3).reshape(batch, groups, cg * len(windows), -1)
            y = np.matmul(wg.reshape(groups, og, -1), cols)
    y = y.reshape((batch, cout, *out))
    bias = op.get("bias")
    if bias is not None:  # in place: y is this op's own new array (a view of it for depthwise)
        y += np.asarray(bias, y.dtype).reshape((1, -1) + (1,) * n)
    return y


def conv_transpose(op: Op) -> np.ndarray:
    x, w = op["x"], op["weight"]
    n = x.ndim - 2
    if n < 1 or w.ndim != x.ndim:
        raise op.error(f"input {x.shape} and weight {w.shape} must be [N, Cin, *spatial] / [Cin, Cout/g, *K]")
    strides, dilations, groups = _params(op, n)
    cin, og, kernel = w.shape[0], w.shape[1], w.shape[2:]
    if x.shape[1] != cin or cin % groups:
        raise op.error(f"input has {x.shape[1]} channels, weight {w.shape} expects {cin} (groups={groups})")
    acc = accumulate_dtype(x, w)
    batch, cg, sizes = x.shape[0], cin // groups, x.shape[2:]
    full = [(sizes[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(n)]
    # [G, Cg, Og, K] -> [G, Og*K, Cg]: every kernel tap's contribution in one matmul.
    wg = w.astype(acc, copy=False).reshape(groups, cg, og, -1)
    taps = wg.transpose(0, 2, 3, 1).reshape(groups, -1, cg)
    xg = x.astype(acc, copy=False).reshape(batch, groups, cg, -1)
    contrib = np.matmul(taps, xg).reshape((batch, groups, og, -1) + tuple(sizes))
    y = np.zeros((batch, groups, og, *full), acc)
    for k, offset in enumerate(itertools.product(*(range(kk) for kk in kernel))):
        index = tuple(
            slice(o * d, o * d + s * (m - 1) + 1, s)
            for o, d, s, m in zip(offset, dilations, strides, sizes, strict=True)
        )
        y[(Ellipsis, *index)] += contrib[:, :, :, k]
    pad_type = op.str("pad_type", "valid")
    if pad_type == "custom":
        pad = op.ints("pad", [0] * 2 * n)
        before = [pad[2 * i] for i in range(n)]
    elif pad_type in ("same", "same_lower"):
        totals = [max(full[i] - sizes[i] * strides[i], 0) for i in range(n)]
        before = [t // 2 if pad_type == "same" else t - t // 2 for t in totals]
    elif pad_type == "valid":
        before = [0] * n
    else:
        raise op.error(f"pad_type {pad_type!r}: expected valid, custom, same or same_lower")
    target = op.out_shapes[0][2:] if op.out_shapes and op.out_shapes[0] else None
    if "output_shape" in op:
        target = tuple(op.ints("output_shape")[2:])
    if target is None:  # a flexible input's unknown dims: the MIL reference's Dout for each pad_type
        if pad_type == "custom":  # (D_in - 1) * stride + (K - 1) * dilation + 1 - pad[2i] - pad[2i+1]
            target = [full[i] - pad[2 * i] - pad[2 * i + 1] for i in range(n)]
        elif pad_type == "valid":  # (D_in - 1) * stride + (K - 1) * dilation + 1
            target = full
        else:  # same: D_in * stride
            target = [sizes[i] * strides[i] for i in range(n)]
    # output_shape may ask for more than the padded result (ONNX output_padding): zeros at the end.
    grow = [max(before[i] + target[i] - full[i], 0) for i in range(n)]
    y = np.pad(y, [(0, 0)] * 3 + [(0, g) for g in grow])
    y = y[(Ellipsis, *(slice(b, b + t) for b, t in zip(before, target, strict=True)))]
    return _add_bias(op, y.reshape((batch, groups * og, *target)))


OPS = {"conv": conv, "conv_transpose": conv_transpose}
