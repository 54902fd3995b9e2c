"""Spatial resizing of the last two axes: upsample_* / resize_* (iOS15/16 image_resizing.py).

Bilinear sampling is written as two small interpolation matrices (one per axis) applied with
matmul, which keeps it exact to the formula and fast.

Semantics from the MIL op reference (coremltools ops/defs/iOS15 and iOS16 image_resizing.py):
- upsample_nearest_neighbor: "Upsample ... by integer scale factors using nearest-neighbor
  interpolation", H2 = floor(H1 * scale_factor_height). No index formula: with an integer factor
  each pixel is repeated (output i reads input i // factor), the only unambiguous reading.
  resize_nearest_neighbor and fractional factors (the type allows them) are not documented
  further: the executor assumes floor(i * in / out), PyTorch's "nearest"; no emitter uses them.
- upsample_bilinear: grid "align_corners == True: spacing = (Xin - 1) / (Xout - 1); grid_point[i] =
  min(Xin - 1, max(0, i*spacing))"; "align_corners == False: spacing = Xin / Xout; grid_point[i] =
  min(Xin - 1, max(0, i*spacing + 0.5*spacing - 0.5))"; H2 = floor(H1 * scale_factor_height).
  iOS16 adds half_pixel_centers, "Defaults to !align_corners"; the pair (False, False) is not
  described: assumed TF1's legacy grid i * Xin / Xout (tf.raw_ops.ResizeBilinear with both False).
- resize_bilinear: sampling_mode grids quoted in ``_resize_grid``; H2 = target_size_height.
"""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn


def _out_hw(op: Op, x: np.ndarray, sh: float, sw: float) -> tuple[int, int]:
    declared = op.out_shapes[0] if op.out_shapes else None
    if declared is not None:
        return declared[-2], declared[-1]
    return int(np.floor(x.shape[-2] * sh)), int(np.floor(x.shape[-1] * sw))


def _interp_matrix(grid: np.ndarray, size: int) -> np.ndarray:
    """[len(grid), size] weights of linear interpolation at (already clamped) positions ``grid``."""
    grid = np.clip(grid, 0, size - 1)
    lo = np.floor(grid).astype(np.int64)
    hi = np.minimum(lo + 1, size - 1)
    frac = grid - lo
    m = np.zeros((grid.size, size), np.float64)
    rows = np.arange(grid.size)
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def _apply(x: np.ndarray, mh: np.ndarray, mw: np.ndarray) -> np.ndarray:
    acc = np.float32 if x.dtype == np.float16 else x.dtype
    y = np.matmul(mh.astype(acc), x.astype(acc))
    return np.matmul(y, mw.T.astype(acc))


def _nearest(x: np.ndarray, oh: int, ow: int) -> np.ndarray:
    # floor(i * in / out): the source pixel whose cell holds the output pixel's top-left corner.
    # Documented only for integer factors (i // factor, which this is); otherwise an assumption.
    h, w = x.shape[-2:]
    rows = np.minimum((np.arange(oh) * h) // oh, h - 1)
    cols = np.minimum((np.arange(ow) * w) // ow, w - 1)
    return x[..., rows[:, None], cols[None, :]]


def upsample_nearest_neighbor(op: Op) -> np.ndarray:
    x = op["x"]
    oh, ow = _out_hw(op, x, op.float("scale_factor_height", 1), op.float("scale_factor_width", 1))
    return _nearest(x, oh, ow)


def resize_nearest_neighbor(op: Op) -> np.ndarray:
    return _nearest(op["x"], op.int("target_size_height"), op.int("target_size_width"))


def _align_grid(size: int, out: int) -> np.ndarray:
    return np.arange(out) * ((size - 1) / (out - 1) if out > 1 else 0.0)


def _half_pixel_grid(size: int, out: int) -> np.ndarray:
    return (np.arange(out) + 0.5) * (size / out) - 0.5


def upsample_bilinear(op: Op) -> np.ndarray:
    # "corresponds to the recompute_scale_factor=True mode in the pytorch bilinear interpolation
    # op": the grid spacing comes from the output size, not from the scale factor
    x = op["x"]
    oh, ow = _out_hw(op, x, op.float("scale_factor_height", 1), op.float("scale_factor_width", 1))
    h, w = x.shape[-2:]
    align = op.bool("align_corners", True)
    half = op.bool("half_pixel_centers", not align)
    if align and half:  # TensorFlow rejects the pair; the MIL doc does not describe it
        raise op.error("align_corners and half_pixel_centers both true is not described")
    if align:
        gh, gw = _align_grid(h, oh), _align_grid(w, ow)
    elif half:
        gh, gw = _half_pixel_grid(h, oh), _half_pixel_grid(w, ow)
    else:
        # iOS16 align_corners=False, half_pixel_centers=False: TF1's legacy asymmetric grid.
        gh, gw = np.arange(oh) * (h / oh), np.arange(ow) * (w / ow)
    return _apply(x, _interp_matrix(gh, h), _interp_matrix(gw, w))


def _resize_grid(mode: str, size: int, out: int) -> np.ndarray:
    """resize_bilinear's grid (Xin = size, Xout = out), clamped by ``_interp_matrix`` to [0, Xin-1]:

        STRICT_ALIGN_CORNERS: spacing = (Xin - 1) / (Xout - 1); i * spacing
        ALIGN_CORNERS:        the same unless Xout = 1, then grid_point[0] = (Xin - 1) / 2
        DEFAULT:              spacing = (Xin - Xin/Xout) / (Xout - 1); i * spacing
        OFFSET_CORNERS:       delta = max(1, Xin - 1) / Xout; 0.5 * delta + i * delta
        UNALIGN_CORNERS:      spacing = Xin / Xout; i * spacing + 0.5 * spacing - 0.5

    STRICT_ALIGN_CORNERS and DEFAULT divide by zero at Xout = 1: the executor samples 0 there (the
    doc's contrast with ALIGN_CORNERS implies it for STRICT; an assumption; no emitter uses it).
    """
    i = np.arange(out, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if out == 1:
            return np.array([(size - 1) / 2 if mode == "ALIGN_CORNERS" else 0.0])
        return i * (size - 1) / (out - 1)
    if mode == "DEFAULT":
        return i * ((size - size / out) / (out - 1) if out > 1 else 0.0)
    if mode == "OFFSET_CORNERS":
        delta = max(1, size - 1) / out
        return 0.5 * delta + i * delta
    if mode == "UNALIGN_CORNERS":
        return _half_pixel_grid(size, out)
    raise ValueError(f"sampling_mode {mode!r} is not one of the documented modes")


def resize_bilinear(op: Op) -> np.ndarray:
    x = op["x"]
    oh, ow = op.int("target_size_height", 1), op.int("target_size_width", 1)
    mode = op.str("sampling_mode", "DEFAULT")
    h, w = x.shape[-2:]
    mh = _interp_matrix(_resize_grid(mode, h, oh), h)
    mw = _interp_matrix(_resize_grid(mode, w, ow), w)
    return _apply(x, mh, mw)


OPS: dict[str, OpFn] = {
    "upsample_nearest_neighbor": upsample_nearest_neighbor,
    "resize_nearest_neighbor": resize_nearest_neighbor,
    "upsample_bilinear": upsample_bilinear,
    "resize_bilinear": resize_bilinear,
}
