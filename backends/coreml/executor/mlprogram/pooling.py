"""max_pool, avg_pool and l2_pool over 1-3 spatial dims (iOS15 pool.py).

Semantics from the MIL op reference (iOS15 pool.py, avg_pool; max_pool and l2_pool "See avg_pool"):
``pad[2*i], pad[2*i+1]`` "are the pad size before and after spatial dimension i"; without ceil_mode
"D_out[i] = floor[(D_in[i] + pad[2*i] + pad[2*i+1] - kernel_sizes[i]) / strides[i]] +1"; with it
"ceil[...] + 1", then "If (D_out[i] - 1) * strides[i] >= D_in[i] + pad[2*i] and (pad[2*i] +
pad[2*i+1] > 0) then D_out[i] = D_out[i] - 1"; ``exclude_padding_from_average``: "If True, padded
values (0s) are excluded from the denominator count".

Where the reference is silent (pinned by tests/backends/coreml/executor/mlprogram/test_exec_mil_pooling.py
against torch, and the emitters' use against onnxruntime):
- padding in a max_pool window is absent (-inf), so a max is over input cells;
- l2_pool is the square root of the sum of squares, padding contributing 0;
- the part of a ceil_mode window past the padded input neither pools nor counts, whatever
  ``exclude_padding_from_average`` says (bridgec's emitters never use ceil_mode for this reason).
"""

from __future__ import annotations

import itertools

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op
from bridgec.backends.coreml.executor.mlprogram.conv import spatial_pads


def _out_sizes(
    op: Op, sizes: tuple[int, ...], pads: list[tuple[int, int]], kernel: list[int], strides: list[int]
) -> list[int]:
    n = len(kernel)
    declared = op.out_shapes[0] if op.out_shapes else None
    if declared is not None:
        return list(declared[-n:])
    ceil = op.bool("ceil_mode", False)
    out = []
    for size, (before, after), k, s in zip(sizes, pads, kernel, strides, strict=True):
        total = before + after
        if not ceil:
            out.append((size + total - k) // s + 1)
            continue
        o = -(-(size + total - k) // s) + 1
        if (o - 1) * s >= size + before and total > 0:  # no window may start in the end padding
            o -= 1
        out.append(o)
    return out


def _pool(op: Op, kind: str) -> np.ndarray:
    x = op["x"]
    kernel = op.ints("kernel_sizes")
    n = len(kernel)
    if x.ndim < n + 1:
        raise op.error(f"input {x.shape} has fewer than {n} spatial dims for kernel {kernel}")
    strides = op.ints("strides", [1] * n)
    sizes = x.shape[-n:]
    pads = spatial_pads(op, sizes, tuple(kernel), strides, [1] * n)
    padded = [s + b + a for s, (b, a) in zip(sizes, pads, strict=True)]
    out = _out_sizes(op, sizes, pads, kernel, strides)
    # ceil_mode windows may run past the padded input: that part never counts, whatever the mode.
    extra = [max((o - 1) * s + k - p, 0) for o, s, k, p in zip(out, strides, kernel, padded, strict=True)]
    lead = [(0, 0)] * (x.ndim - n)
    widths = lead + [(b, a + e) for (b, a), e in zip(pads, extra, strict=True)]
    acc = np.float32 if x.dtype == np.float16 else x.dtype
    fill = -np.inf if kind == "max" else 0
    xp = np.pad(x.astype(acc), widths, constant_values=fill)
    if kind == "l2":
        xp = xp * xp
    windows = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        index = tuple(slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(offset, strides, out, strict=True))
        windows.append(index)
    if kind == "max":
        y = xp[(Ellipsis, *windows[0])]
        for index in windows[1:]:
            y = np.maximum(y, xp[(Ellipsis, *index)])
        return y
    total = sum(xp[(Ellipsis, *index)] for index in windows)
    if kind == "l2":
        return np.sqrt(total)
    counted = np.ones(sizes, acc)
    exclude = op.bool("exclude_padding_from_average", False)
    counted = np.pad(counted, [(b, a) for b, a in pads], constant_values=0 if exclude else 1)
    counted = np.pad(counted, [(0, e) for e in extra], constant_values=0)
    divisor = sum(counted[index] for index in windows)
    return total / np.maximum(divisor, 1)


OPS = {
    "max_pool": lambda op: _pool(op, "max"),
    "avg_pool": lambda op: _pool(op, "avg"),
    "l2_pool": lambda op: _pool(op, "l2"),
}
