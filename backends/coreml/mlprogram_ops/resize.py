"""Resize and Upsample of the last two axes as MIL upsample_nearest_neighbor / upsample_bilinear /
resize_bilinear.

Emitted only where the op computes exactly what ONNX does (the MIL op reference, iOS15
image_resizing):

- nearest: ``upsample_nearest_neighbor`` by integer factors, where ONNX picks input i // k for
  output i (asymmetric + floor, half-pixel + round_prefer_*: ``replication_factor``). The op's doc
  gives no index formula ("nearest-neighbor interpolation", output floor(H1 * scale)); with an
  integer factor every convention replicates each pixel k times, and nothing else is emitted.
- linear: ``resize_bilinear`` with the first sampling_mode whose documented grid equals ONNX's
  source coordinates (clamped to the input) on both axes, within ``GRID_TOLERANCE`` pixels: the
  align_corners, asymmetric and half-pixel resizes of any sizes whose ratio is in / out. A
  half-pixel resize by a scale whose product with the input is not an integer (5 px x 1.5)
  samples at 1 / scale in ONNX, at in / out in MIL: refused, and ``lower::resize`` lowers it.
  An align_corners or half-pixel upsampling by integer scales is ``upsample_bilinear`` instead, the
  same grid stated by factors, so that the program does not depend on the input size.

Cubic, antialias, a roi crop, resizing N or C, ranks below 3: refused (lowered by the pass).
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml._resize import GRID_TOLERANCE, spatial_form
from bridgec.backends.coreml.mlprogram_ops import MilEmitter, known_at_build, static_shape
from bridgec.core import ir
from bridgec.core.errors import ConversionError
from bridgec.passes.lower.resize import (
    ResizeRequest,
    modes,
    read,
    replicates,
    source_coordinates,
)


def _grid(mode: str, n_in: int, n_out: int) -> np.ndarray | None:
    """resize_bilinear's grid for ``sampling_mode`` (its doc's formulas, clamped to [0, Xin-1] as each
    says), or None where the doc leaves it undefined (a spacing over Xout - 1 with Xout = 1)."""
    i = np.arange(n_out, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if n_out == 1:  # "ALIGN_CORNERS: ... grid_point[0] = (Xin-1) / 2, if Xout==1"; STRICT: undefined
            return np.array([(n_in - 1) / 2]) if mode == "ALIGN_CORNERS" else None
        grid = i * (n_in - 1) / (n_out - 1)
    elif mode == "DEFAULT":  # spacing = (Xin - Xin/Xout) / (Xout - 1)
        if n_out == 1:
            return None
        grid = i * (n_in - n_in / n_out) / (n_out - 1)
    elif mode == "UNALIGN_CORNERS":  # spacing = Xin / Xout; i * spacing + 0.5 * spacing - 0.5
        grid = i * n_in / n_out + 0.5 * n_in / n_out - 0.5
    else:  # OFFSET_CORNERS: delta = max(1, Xin - 1) / Xout; 0.5 * delta + i * delta
        delta = max(1, n_in - 1) / n_out
        grid = 0.5 * delta + i * delta
    return np.clip(grid, 0.0, n_in - 1)


_SAMPLING_MODES = ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "UNALIGN_CORNERS", "OFFSET_CORNERS")


def _sampling_mode(request: ResizeRequest) -> str | None:
    axes = (len(request.in_shape) - 2, len(request.in_shape) - 1)
    want = {a: np.clip(source_coordinates(request, a), 0.0, request.in_shape[a] - 1) for a in axes}
    for mode in _SAMPLING_MODES:
        grids = {a: _grid(mode, request.in_shape[a], request.out_shape[a]) for a in axes}
        if all(
            g is not None and np.abs(g - want[a]).max(initial=0.0) <= GRID_TOLERANCE for a, g in grids.items()
        ):
            return mode
    return None


def _form(request: ResizeRequest) -> tuple[str, object] | str:
    """("nearest", (k_h, k_w)) or ("linear", sampling_mode) emitting the request exactly, or why not."""
    factors = spatial_form(request, "MIL", (3, 5))
    if isinstance(factors, str):
        return factors
    h = len(request.in_shape) - 2
    if request.mode == "nearest":
        return "nearest", factors
    if request.mode != "linear":
        return f"mode {request.mode!r} has no MIL op"
    if request.transform == "tf_crop_and_resize":
        return "tf_crop_and_resize has no MIL form"
    mode = _sampling_mode(request)
    if mode is None:
        return (
            f"linear {request.transform} resize {request.in_shape[h:]} -> {request.out_shape[h:]} samples "
            "where no resize_bilinear sampling_mode does"
        )
    return "linear", mode


def _deferred(node: gs.Node) -> bool:
    """Scales/sizes computed from shapes: known only when the program is built (its input shapes are
    static), so the check passes them on to the build, which refuses what is not exact."""
    inputs = [t for t in node.inputs[1:] if not ir.is_empty(t)]
    return any(ir.constant_value(t) is None for t in inputs) and all(known_at_build(t) for t in inputs)


def _tentative(node: gs.Node) -> str | None:
    """The check before the shapes or scales are known (the build knows them, and refuses there what
    they rule out): only what rules the node out whatever they are."""
    found = modes(node)
    if found.antialias or found.policy != "stretch":
        return "antialias / keep_aspect_ratio_policy have no MIL equivalent"
    if found.mode == "nearest" and not replicates(found.transform, found.nearest_mode):
        return f"nearest {found.transform}/{found.nearest_mode} does not match MIL's nearest upsampling"
    if found.mode not in ("nearest", "linear") or found.transform == "tf_crop_and_resize":
        return f"{found.mode} {found.transform} resizing has no MIL equivalent"
    return None


def _resize_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant scales/sizes (or folded from shapes) and a static rank >= 3 input, only
    the last two axes resized, no antialias; nearest by integer upsampling factors (asymmetric+floor or
    half-pixel+round_prefer_*); linear where a resize_bilinear sampling_mode samples ONNX's coordinates
    (align_corners, asymmetric and half-pixel by in/out ratios)."""
    if _deferred(node) or static_shape(node.inputs[0]) is None:
        return _tentative(node)
    request = read(node, static_shape(node.inputs[0]))
    if isinstance(request, str):
        return request
    found = _form(request)
    return found if isinstance(found, str) else None


# upsample_bilinear's grids (MIL reference, iOS15 image_resizing): align_corners=True spacing
# (Xin - 1) / (Xout - 1), as ALIGN_CORNERS; False: Xin / Xout, i * spacing + 0.5 * spacing - 0.5, as
# UNALIGN_CORNERS (iOS16's half_pixel_centers defaults to not align_corners: the same grid).
_UPSAMPLE_ALIGN = {"STRICT_ALIGN_CORNERS": True, "ALIGN_CORNERS": True, "UNALIGN_CORNERS": False}


def _by_factors(request: ResizeRequest, mode: str) -> bool:
    """An upsampling by integer factors: ``upsample_bilinear`` states the factors, not the output
    size, so the op is the same at every input size the factors stay (flexible shapes,
    ``backends.coreml.flexible``, which compares the programs built at each shape: sizes read from
    another tensor's shape usually keep the factor, fixed sizes do not and are refused there); its
    output size floor(Xin * k) is Xin * k, and the grid matches ONNX's wherever the chosen
    sampling_mode's does, that grid depending on Xin / Xout only."""
    if mode not in _UPSAMPLE_ALIGN:
        return False
    for axis in (len(request.in_shape) - 2, len(request.in_shape) - 1):
        scale = request.scales[axis]
        if scale < 1 or scale != int(scale) or request.out_shape[axis] != request.in_shape[axis] * int(scale):
            return False
        if _UPSAMPLE_ALIGN[mode] and request.out_shape[axis] == 1:  # (Xin - 1) / (Xout - 1) is 0 / 0
            return False
    return True


def _resize(ctx, node: gs.Node) -> None:
    x, name = ctx.value(node.inputs[0]), ctx.name(node.outputs[0])
    request = read(node, tuple(int(d) for d in x.shape), ctx.const)  # with the values folded now
    found = _form(request) if not isinstance(request, str) else request
    if isinstance(found, str):
        raise ConversionError(f"node {node.name!r} ({node.op}): {found}")
    kind, how = found
    if kind == "nearest":
        y = ctx.mb.upsample_nearest_neighbor(
            x=x, scale_factor_height=int(how[0]), scale_factor_width=int(how[1]), name=name
        )
    elif _by_factors(request, how):
        h, w = len(request.in_shape) - 2, len(request.in_shape) - 1
        y = ctx.mb.upsample_bilinear(
            x=x,
            scale_factor_height=int(request.scales[h]),
            scale_factor_width=int(request.scales[w]),
            align_corners=_UPSAMPLE_ALIGN[how],
            name=name,
        )
    else:
        y = ctx.mb.resize_bilinear(
            x=x,
            target_size_height=int(request.out_shape[-2]),
            target_size_width=int(request.out_shape[-1]),
            sampling_mode=how,
            name=name,
        )
    ctx.set(node.outputs[0], y)


_MIL_OPS = ("upsample_nearest_neighbor", "upsample_bilinear", "resize_bilinear")
emitters = [
    MilEmitter("Resize", _resize, _resize_check, mil_ops=_MIL_OPS),
    MilEmitter("Upsample", _resize, _resize_check, mil_ops=_MIL_OPS),
]
