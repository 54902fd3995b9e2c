"""``pooling`` (PoolingLayerParams): MAX / AVERAGE / L2 with VALID, SAME and INCLUDE_LAST_PIXEL.

Semantics from NeuralNetwork.proto, PoolingLayerParams: "A blob with rank greater than equal to 4
... the leading dimensions, starting from 0 to -4 (inclusive), are all treated as batch";
"Padding options are similar to ConvolutionLayerParams" (ValidPadding / SamePadding, see _spatial.py)
"with the additional option of ValidCompletePadding (includeLastPixel)", whose H_out formula is
implemented in ``_geometry``; ``avgPoolExcludePadding``: "If true, padded values are excluded from
the count (denominator) when computing average pooling"; ``globalPooling``: "Kernel size is
inferred from the input data spatial dimensions".

Where the proto is silent (each pinned by tests/backends/coreml/executor/neuralnetwork/test_exec_nn_pooling.py against an
independent numpy/torch computation, and the emitter's use against onnxruntime):
- the value of padding in a MAX window: we take it as absent (-inf), so a max is over input cells,
  as every framework's max pooling; the emitter pads MaxPool only where ONNX pads it;
- an L2 window: sqrt of the sum of squares ("L2" pooling's usual meaning), padding contributing 0;
- the part of an includeLastPixel window that runs past the declared padding when rounding up (the
  emitter never uses includeLastPixel for this reason): we neither count it nor pool it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bridgec.backends.coreml.executor.neuralnetwork._common import f32, fold_batch, pair, unfold_batch
from bridgec.backends.coreml.executor.neuralnetwork._spatial import same_pads, valid_pads, windowed_size

MAX, AVERAGE, L2 = 0, 1, 2


def pooling(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.pooling
    if np.ndim(inputs[0]) < 4:
        raise ValueError(
            f"pooling needs a blob of rank >= 4 (PoolingLayerParams), got shape {np.shape(inputs[0])}"
        )
    x, lead = fold_batch(f32(inputs[0]), 3, "pooling")
    if p.type not in (MAX, AVERAGE, L2):
        raise ValueError(f"unknown pooling type {p.type}")
    h, w = x.shape[2:]
    if p.globalPooling:
        if p.type == MAX:
            y = x.max(axis=(2, 3), keepdims=True)
        elif p.type == AVERAGE:
            y = x.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
        else:
            y = np.sqrt(np.square(x, dtype=np.float64).sum(axis=(2, 3), keepdims=True)).astype(np.float32)
        return [unfold_batch(y, lead)]

    kernel = pair(p.kernelSize, (3, 3))
    stride = pair(p.stride, (1, 1))
    # ``declared`` is the padding the spec asks for (what avgPoolExcludePadding=False counts);
    # ``actual`` also covers the overhang INCLUDE_LAST_PIXEL's rounding-up may add at the end.
    declared, out_hw = _geometry(p, (h, w), kernel, stride)
    actual = [declared[0], 0, declared[2], 0]
    for axis, (n, k, s, o) in enumerate(zip((h, w), kernel, stride, out_hw, strict=True)):
        actual[2 * axis + 1] = max(0, (o - 1) * s + k - n - declared[2 * axis])

    fill = -np.inf if p.type == MAX else 0.0
    xp = np.pad(
        x,
        ((0, 0), (0, 0), (actual[0], actual[1]), (actual[2], actual[3])),
        mode="constant",
        constant_values=fill,
    )
    if p.type == L2:
        xp = np.square(xp)
    windows = sliding_window_view(xp, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    windows = windows[:, :, : out_hw[0], : out_hw[1]]
    if p.type == MAX:
        y = windows.max(axis=(4, 5))
    else:
        y = windows.sum(axis=(4, 5), dtype=np.float32)
        if p.type == L2:
            y = np.sqrt(y)
        else:
            y = y / _window_counts((h, w), kernel, stride, out_hw, declared, p.avgPoolExcludePadding)
    return [unfold_batch(y.astype(np.float32, copy=False), lead)]


def _geometry(
    p: Any, in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]
) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    kind = p.WhichOneof("PoolingPaddingType")
    if kind == "same":
        pads = same_pads(p.same, in_hw, kernel, stride)
    elif kind == "includeLastPixel":
        ph, pw = pair(p.includeLastPixel.paddingAmounts, (0, 0))
        out = []
        for n, k, s, pad in zip(in_hw, kernel, stride, (ph, pw), strict=True):
            o = -(-(n + 2 * pad - k) // s) + 1
            # Drop a last window that would start inside the end padding; note the proto applies
            # this only when *some* padding is set (either axis), unlike PyTorch's ceil_mode.
            if (ph > 0 or pw > 0) and (o - 1) * s >= n + pad:
                o -= 1
            out.append(o)
        return (ph, ph, pw, pw), (out[0], out[1])
    else:
        pads = valid_pads(p.valid)
    out_h = windowed_size(in_hw[0], pads[0] + pads[1], kernel[0], stride[0])
    out_w = windowed_size(in_hw[1], pads[2] + pads[3], kernel[1], stride[1])
    return pads, (out_h, out_w)


def _window_counts(
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    out_hw: tuple[int, int],
    pads: tuple[int, int, int, int],
    exclude_padding: bool,
) -> np.ndarray:
    """Denominator of each average window, separable into a per-row times per-column count."""
    counts = []
    for axis, (n, k, s, o) in enumerate(zip(in_hw, kernel, stride, out_hw, strict=True)):
        start = np.arange(o) * s - pads[2 * axis]
        if exclude_padding:
            lo, hi = 0, n
        else:
            # Declared padding counts, the rounding overhang of INCLUDE_LAST_PIXEL does not.
            lo, hi = -pads[2 * axis], n + pads[2 * axis + 1]
        counts.append(np.clip(start + k, lo, hi) - np.clip(start, lo, hi))
    c = np.outer(counts[0], counts[1]).astype(np.float32)
    return np.maximum(c, 1.0)
