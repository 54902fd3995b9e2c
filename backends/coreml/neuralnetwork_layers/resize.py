"""Resize / Upsample of the last two axes, as Core ML's upsample or resizeBilinear layer.

Emitted only where the layer computes exactly what ONNX does (NeuralNetwork.proto):

- nearest: ``upsample`` NN by integer factors, where ONNX picks input i // k for output i (each
  pixel repeated k times: asymmetric + floor, half-pixel + round_prefer_*; see
  ``passes.lower.resize.replication_factor``). The proto gives the output size
  ``scalingFactor * H`` and "pick the nearest true value", no formula: with an integer factor
  replication is the only reading.
- linear: the first layer whose documented sampling grid equals ONNX's source coordinates
  (clamped to the input, as linear reads are) on both axes, within ``GRID_TOLERANCE`` pixels:
  ``upsample`` BILINEAR when upsampling (DEFAULT by integer factors; ALIGN_CORNERS_TRUE / FALSE
  from iOS14), preferred because a factor holds at every input size (flexible shapes), then
  ``resizeBilinear`` STRICT_ALIGN_ENDPOINTS / UPSAMPLE_MODE (any sizes). A half-pixel resize by a
  given scale whose product with the input size is not an integer (5 px x 1.5) samples at
  1 / scale in ONNX and at in / out in Core ML: refused, so ``lower::resize`` makes it exact
  MatMuls instead.

Everything else (cubic, antialias, a roi crop, N or C resized, ranks other than 3..5) is refused.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml._resize import GRID_TOLERANCE, spatial_form
from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core.errors import ConversionError
from bridgec.passes.lower.resize import (
    ResizeRequest,
    modes,
    read,
    replicates,
    source_coordinates,
)

ALIGN_CORNERS_FALSE_SPEC = 5  # upsample's linearUpsampleMode and fractionalScalingFactor: iOS14


def _clamped(grid: np.ndarray, n_in: int) -> np.ndarray:
    return np.clip(grid, 0.0, n_in - 1)


# The layers' documented sampling grids (Xin = n_in, Xout = n_out), to compare with ONNX's.


def _strict_align_endpoints(n_in: int, n_out: int) -> np.ndarray:
    # SamplingMode STRICT_ALIGN_ENDPOINTS_MODE: "start = 0, end = X-1; numpy.linspace(start, end)"
    return np.linspace(0.0, n_in - 1, n_out)


def _upsample_mode(n_in: int, n_out: int) -> np.ndarray:
    # SamplingMode UPSAMPLE_MODE: "start = 0, end = X - X/N; min(X-1, numpy.linspace(start, end))"
    return _clamped(np.linspace(0.0, n_in - n_in / n_out, n_out), n_in)


def _spaced(n_in: int, n_out: int, spacing: float, offset: float = 0.0) -> np.ndarray:
    return _clamped(np.arange(n_out) * spacing + offset, n_in)


def _default(n_in: int, n_out: int) -> np.ndarray:
    # LinearUpsampleMode DEFAULT: "spacing = (Xin-Xin/Xout) / (Xout-1);
    # grid_point[i] = min(Xin-1, max(0, i * spacing))"; Xout = 1 only from Xin = 1: one pixel
    return _spaced(n_in, n_out, (n_in - n_in / n_out) / (n_out - 1) if n_out > 1 else 0.0)


def _align_corners_true(n_in: int, n_out: int) -> np.ndarray:
    # ALIGN_CORNERS_TRUE: "spacing = (Xin-1) / (Xout-1); grid_point[i] = min(Xin-1, max(0, i * spacing))"
    return _spaced(n_in, n_out, (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)


def _align_corners_false(n_in: int, n_out: int) -> np.ndarray:
    # ALIGN_CORNERS_FALSE: "spacing = Xin / Xout;
    # grid_point[i] = min(Xin-1, max(0, i * spacing + 0.5 * spacing - 0.5))"
    spacing = n_in / n_out
    return _spaced(n_in, n_out, spacing, 0.5 * spacing - 0.5)


def _upsample_factor(n_in: int, n_out: int) -> float | None:
    """The upsample layer's factor for n_in -> n_out: an integer, or a fractional one whose product
    with n_in is n_out exactly in float32 and float64 (the proto does not say how a fractional
    product is rounded), and which the builder does not round to an integer (fraction > 0.001)."""
    if n_out < n_in or n_in == 0:
        return None
    if n_out % n_in == 0:
        return float(n_out // n_in)
    factor = np.float32(n_out / n_in)
    exact = float(factor) * n_in == n_out and factor * np.float32(n_in) == np.float32(n_out)
    return float(factor) if exact and factor - math.floor(factor) > 0.001 else None


def _linear_form(request: ResizeRequest, target) -> tuple[str, str] | str:
    """(layer, sampling mode) computing the linear resize of the last two axes, or why none does."""
    h, w = len(request.in_shape) - 2, len(request.in_shape) - 1
    want = {a: _clamped(source_coordinates(request, a), request.in_shape[a]) for a in (h, w)}
    factors = [_upsample_factor(request.in_shape[a], request.out_shape[a]) for a in (h, w)]
    upsampling = all(factors)
    recent = target is None or target.spec_version >= ALIGN_CORNERS_FALSE_SPEC
    # upsample first: its factor holds at every input size (flexible shapes), a target size does not
    candidates = []
    if upsampling and all(float(f).is_integer() for f in factors):  # DEFAULT takes no fractions
        candidates.append(("upsample", "DEFAULT", _default))
    if upsampling and recent:
        candidates += [("upsample", "ALIGN_CORNERS_TRUE", _align_corners_true)]
        candidates += [("upsample", "ALIGN_CORNERS_FALSE", _align_corners_false)]
    candidates += [
        ("resizeBilinear", "STRICT_ALIGN_ENDPOINTS_MODE", _strict_align_endpoints),
        ("resizeBilinear", "UPSAMPLE_MODE", _upsample_mode),
    ]
    for layer, mode, grid in candidates:
        if all(
            np.abs(grid(request.in_shape[a], request.out_shape[a]) - want[a]).max(initial=0.0)
            <= GRID_TOLERANCE
            for a in (h, w)
        ):
            return layer, mode
    old = upsampling and not recent
    hint = "; upsample's half-pixel mode needs iOS14 or newer" if old else ""
    return (
        f"linear {request.transform} resize {request.in_shape[h:]} -> {request.out_shape[h:]} samples "
        f"where no Core ML upsample/resizeBilinear mode does{hint}"
    )


def _form(node: gs.Node, target, shape: tuple[int, ...] | None = None) -> tuple | str:
    """(request, layer, mode, (factor_h, factor_w)) emitting ``node`` exactly, or why there is none."""
    request = read(node, shape)
    if isinstance(request, str):
        return request
    factors = spatial_form(request, "Core ML", (3, 5))
    if isinstance(factors, str):
        return factors
    h, w = len(request.in_shape) - 2, len(request.in_shape) - 1
    if request.mode == "nearest":
        return request, "upsample", "NN", (float(factors[0]), float(factors[1]))
    if request.mode != "linear":
        return f"mode {request.mode!r} has no Core ML equivalent"
    if request.transform == "tf_crop_and_resize":
        return "tf_crop_and_resize has no Core ML layer"
    found = _linear_form(request, target)
    if isinstance(found, str):
        return found
    layer, mode = found
    factors = tuple(
        (_upsample_factor(request.in_shape[a], request.out_shape[a]) or 0.0) if layer == "upsample" else 0.0
        for a in (h, w)
    )
    return request, layer, mode, factors


def _tentative(node: gs.Node) -> str | None:
    """The check before the shapes or scales are known (the build knows them, and refuses there what
    they rule out): only what rules the node out whatever they are."""
    found = modes(node)
    if found.antialias or found.policy != "stretch":
        return "antialias / keep_aspect_ratio_policy have no Core ML equivalent"
    if found.mode == "nearest" and not replicates(found.transform, found.nearest_mode):
        return f"nearest {found.transform}/{found.nearest_mode} does not match Core ML's nearest upsampling"
    if found.mode not in ("nearest", "linear") or found.transform == "tf_crop_and_resize":
        return f"{found.mode} {found.transform} resizing has no Core ML equivalent"
    return None


def _check(node: gs.Node, target) -> str | None:
    """Restrictions: constant scales/sizes, a rank 3..5 input, only the last two axes resized, no
    antialias; nearest by integer upsampling factors (asymmetric+floor or half-pixel+round_prefer_*);
    linear where upsample (integer or exact factors; half-pixel and align_corners from iOS14) or
    resizeBilinear (align_corners, asymmetric by in/out) samples ONNX's coordinates."""
    shape = node.inputs[0].shape
    if shape is None or not all(isinstance(d, int) for d in shape):  # the build infers it
        return _tentative(node)
    found = _form(node, target)
    return found if isinstance(found, str) else None


def _emit(ctx, node: gs.Node) -> None:
    found = _form(node, ctx.target, ctx.shape(node.inputs[0]))
    if isinstance(found, str):
        raise ConversionError(f"node {node.name!r} ({node.op}): {found}")
    request, layer, mode, (fh, fw) = found
    x, y = ctx.blob(node.inputs[0]), node.outputs[0].name
    if layer == "resizeBilinear":
        out_h, out_w = request.out_shape[-2:]
        ctx.builder.add_resize_bilinear(node.name, x, y, target_height=out_h, target_width=out_w, mode=mode)
        return
    if float(fh).is_integer() and float(fw).is_integer():
        fh, fw = int(fh), int(fw)
    linear = "DEFAULT" if mode == "NN" else mode
    ctx.builder.add_upsample(
        node.name, fh, fw, x, y, mode="NN" if mode == "NN" else "BILINEAR", linear_upsample_mode=linear
    )


emitters = [
    Emitter("Resize", _emit, _check, layer="upsample, resizeBilinear"),
    Emitter("Upsample", _emit, _check, layer="upsample, resizeBilinear"),
]
