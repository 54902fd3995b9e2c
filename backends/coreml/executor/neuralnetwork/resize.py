"""``upsample`` (UpsampleLayerParams) and ``resizeBilinear`` (ResizeBilinearLayerParams).

Both reduce to "sample the input at a grid of real-valued coordinates per spatial axis"; the
layers differ only in how the grid is laid out, which is where Core ML's modes differ from
PyTorch's ``align_corners`` flag (see the grid functions below).

Semantics from NeuralNetwork.proto; where it is silent this file says what it assumes:
- UpsampleLayerParams: "Output ... [C, scalingFactor[0] * H, scalingFactor[1] * W]"; NN "simply
  pick[s] the nearest true value" (no index formula: with an integer factor each input pixel is
  repeated, the one reading under which every output's nearest input is unambiguous); BILINEAR
  samples at LinearUpsampleMode's grid_point[i] (quoted in ``upsample_grid``). The output size for
  a fractionalScalingFactor is not given: assumed floor(H * factor), as MIL's upsample_* say.
- ResizeBilinearLayerParams: "resizes the input to a pre-specified spatial size using bilinear
  interpolation" at SamplingMode's grid points (quoted in ``sampling_grid``); "the leading
  dimensions ... are all treated as batch" (both layers).
- Bilinear interpolation between the two neighbours of a grid point is the proto's word
  ("bilinear"), not spelled out; the grids are clamped to [0, Xin - 1] as the formulas say.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import f32, fold_batch, pair, unfold_batch

NN, BILINEAR = 0, 1
DEFAULT, ALIGN_CORNERS_TRUE, ALIGN_CORNERS_FALSE = 0, 1, 2
STRICT_ALIGN_ENDPOINTS, ALIGN_ENDPOINTS, UPSAMPLE_MODE, ROI_ALIGN = 0, 1, 2, 3


def upsample_grid(n_in: int, n_out: int, mode: int) -> np.ndarray:
    """Input coordinate sampled by each output index, per ``LinearUpsampleMode``:

        DEFAULT:             spacing = (Xin-Xin/Xout) / (Xout-1); grid_point[i] = min(Xin-1, max(0, i * spacing))
        ALIGN_CORNERS_TRUE:  spacing = (Xin-1) / (Xout-1);        grid_point[i] = min(Xin-1, max(0, i * spacing))
        ALIGN_CORNERS_FALSE: spacing = Xin / Xout;  grid_point[i] = min(Xin-1, max(0, i * spacing + 0.5 * spacing - 0.5))

    DEFAULT is *neither* align_corners setting: its spacing simplifies to Xin / Xout with no
    half-pixel shift, i.e. output i reads input i * Xin / Xout (ONNX's "asymmetric" by in / out).
    Xout = 1 makes the first two spacings 0/0 in the proto; the executor samples i * spacing = 0
    there (an assumption; no emitter relies on it: upsampling to one pixel reads the only one).
    """
    i = np.arange(n_out, dtype=np.float64)
    if mode == DEFAULT:
        spacing = (n_in - n_in / n_out) / (n_out - 1) if n_out > 1 else 0.0
        g = i * spacing
    elif mode == ALIGN_CORNERS_TRUE:
        spacing = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        g = i * spacing
    elif mode == ALIGN_CORNERS_FALSE:
        spacing = n_in / n_out
        g = i * spacing + 0.5 * spacing - 0.5
    else:
        raise ValueError(f"unknown linearUpsampleMode {mode}")
    return np.clip(g, 0.0, n_in - 1)


def sampling_grid(n_in: int, n_out: int, method: int) -> np.ndarray:
    """Input coordinate sampled by each output index, per ``SamplingMode.Method`` (X in, N out):

    STRICT_ALIGN_ENDPOINTS_MODE: start = 0, end = X-1; numpy.linspace(start, end)
    ALIGN_ENDPOINTS_MODE:        if N == 1: start = end = (X-1)/2, otherwise as STRICT
    UPSAMPLE_MODE:               start = 0, end = X - X/N; min(X-1, numpy.linspace(start, end))
    ROI_ALIGN_MODE:              spacing = max(1, X-1)/N; start = 0.5 * spacing;
                                 end = start + (N-1) * spacing; min(X-1, numpy.linspace(start, end))
    """
    if method == STRICT_ALIGN_ENDPOINTS:
        g = np.linspace(0.0, n_in - 1, n_out) if n_out > 1 else np.zeros(1)
    elif method == ALIGN_ENDPOINTS:
        g = np.linspace(0.0, n_in - 1, n_out) if n_out > 1 else np.full(1, (n_in - 1) / 2)
    elif method == UPSAMPLE_MODE:
        g = np.linspace(0.0, n_in - n_in / n_out, n_out)
    elif method == ROI_ALIGN:
        spacing = max(1, n_in - 1) / n_out
        start = 0.5 * spacing
        g = np.linspace(start, start + (n_out - 1) * spacing, n_out)
    else:
        raise ValueError(f"unknown sampling method {method}")
    return np.clip(g, 0.0, n_in - 1)


def _lerp_axis(x: np.ndarray, grid: np.ndarray, axis: int) -> np.ndarray:
    n = x.shape[axis]
    i0 = np.clip(np.floor(grid).astype(np.intp), 0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    t = (grid - i0).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = grid.size
    t = t.reshape(shape)
    a = np.take(x, i0, axis=axis)
    b = np.take(x, i1, axis=axis)
    return a + (b - a) * t


def _bilinear(x: np.ndarray, grid_h: np.ndarray, grid_w: np.ndarray) -> np.ndarray:
    return _lerp_axis(_lerp_axis(x, grid_h, 2), grid_w, 3)


def upsample(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.upsample
    x, lead = fold_batch(f32(inputs[0]), 3, "upsample")
    h, w = x.shape[2:]
    if len(p.fractionalScalingFactor):
        if len(p.scalingFactor):
            raise ValueError("scalingFactor and fractionalScalingFactor are mutually exclusive")
        fh, fw = (float(v) for v in p.fractionalScalingFactor)
        out_h, out_w = math.floor(h * fh), math.floor(w * fw)
        fractional = True
    else:
        sh, sw = pair(p.scalingFactor, (1, 1))
        out_h, out_w = h * sh, w * sw
        fractional = False
    if p.mode == NN:
        if fractional:
            # The proto only defines fractional factors for BILINEAR (the builder enforces it).
            raise UnsupportedLayerError(layer.name, "upsample", "nearest-neighbour with a fractional factor")
        # "pick the nearest true value" with integer factors: output i reads input i // factor
        y = np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)
    elif p.mode == BILINEAR:
        mode = int(p.linearUpsampleMode)
        y = _bilinear(x, upsample_grid(h, out_h, mode), upsample_grid(w, out_w, mode))
    else:
        raise UnsupportedLayerError(layer.name, "upsample", f"interpolation mode {p.mode}")
    return [unfold_batch(f32(y), lead)]


def resize_bilinear(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.resizeBilinear
    x, lead = fold_batch(f32(inputs[0]), 3, "resizeBilinear")
    h, w = x.shape[2:]
    out_h, out_w = pair(p.targetSize, (1, 1))
    method = int(p.mode.samplingMethod)
    y = _bilinear(x, sampling_grid(h, out_h, method), sampling_grid(w, out_w, method))
    return [unfold_batch(f32(y), lead)]
