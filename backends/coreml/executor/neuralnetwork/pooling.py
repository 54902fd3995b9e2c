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

from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import f32, fold_batch, pair, unfold_batch
from bridgec.backends.coreml.executor.neuralnetwork._spatial import (
    padding_3d,
    padding_name,
    same_pads,
    valid_pads,
    windowed_size,
)

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


# --- pooling3d / globalPooling3d -----------------------------------------------------------------


def pooling3d(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """``pooling3d`` (Pooling3DLayerParams, iOS14). From NeuralNetwork.proto: input "A blob with rank
    equal to 5, representing [Batch, channels, depth, height, width]"; type MAX or AVERAGE; "All
    padding types pad the input shape with zeros" (a MAX window over padding takes those zeros);
    CUSTOM / VALID padding as ``padding_3d`` reads them, "the last pool along each dimension will be
    dropped if the input dimension and the kernel size, and stride do not match" (the output size
    rounds down); "countExcludePadding: If true, exclude zeros from padding in Average pooling.
    Meaningless in Max Pooling" (false: the whole window counts).

    SAME ("enough padding to each dimension such that the output has the same spatial dimensions as
    the input", the odd one at the back) is that only for stride 1; for a larger stride no padding
    makes the output the input's size, so it is refused rather than guessed."""
    p = layer.pooling3d
    x = f32(inputs[0])
    if x.ndim != 5:
        raise ValueError(f"pooling3d needs a rank-5 blob (Pooling3DLayerParams), got shape {x.shape}")
    kernel = (int(p.kernelDepth), int(p.kernelHeight), int(p.kernelWidth))
    stride = (int(p.strideDepth), int(p.strideHeight), int(p.strideWidth))
    if min(kernel + stride) < 1:
        raise ValueError(f"pooling3d kernel {kernel} and stride {stride} must be positive")
    if padding_name(p, "Pooling3DPaddingType") == "SAME":
        if any(s != 1 for s in stride):
            raise UnsupportedLayerError(layer.name, "pooling3d", f"SAME padding with stride {stride}")
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel]
    else:
        pads = padding_3d(p, "Pooling3DPaddingType", "pooling3d")
    out = [
        windowed_size(n, b + e, k, s)
        for n, (b, e), k, s in zip(x.shape[2:], pads, kernel, stride, strict=True)
    ]
    windows = sliding_window_view(np.pad(x, ((0, 0), (0, 0), *pads)), kernel, axis=(2, 3, 4))
    windows = windows[:, :, :: stride[0], :: stride[1], :: stride[2]][:, :, : out[0], : out[1], : out[2]]
    if p.type == MAX:
        return [windows.max(axis=(5, 6, 7))]
    if p.type != AVERAGE:
        raise ValueError(f"unknown pooling3d type {p.type}")
    total = windows.sum(axis=(5, 6, 7), dtype=np.float32)
    if not p.countExcludePadding:
        return [total / np.float32(np.prod(kernel))]
    counts = [
        np.clip(np.arange(o) * s - b + k, 0, n) - np.clip(np.arange(o) * s - b, 0, n)
        for n, (b, _), k, s, o in zip(x.shape[2:], pads, kernel, stride, out, strict=True)
    ]
    inside = np.einsum("i,j,k->ijk", *counts).astype(np.float32)
    return [total / np.maximum(inside, 1.0)]


def global_pooling3d(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """``globalPooling3d`` (GlobalPooling3DLayerParams, iOS14): "like a special case of
    Pooling3DLayerParams in which the Kernel is the size of the input and there is no padding";
    "Depth, height, and width of the output will always be 1"."""
    p = layer.globalPooling3d
    x = f32(inputs[0])
    if x.ndim != 5:
        raise ValueError(f"globalPooling3d needs a rank-5 blob, got shape {x.shape}")
    if p.type == MAX:
        return [x.max(axis=(2, 3, 4), keepdims=True)]
    if p.type != AVERAGE:
        raise ValueError(f"unknown globalPooling3d type {p.type}")
    return [x.mean(axis=(2, 3, 4), keepdims=True, dtype=np.float64).astype(np.float32)]
