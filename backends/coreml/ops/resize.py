"""Resize / Upsample on the two spatial axes, as Core ML's upsample layer."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.backends.coreml.ops import Emitter

_HALF_PIXEL = ("half_pixel", "pytorch_half_pixel")


def _scales(node: gs.Node) -> tuple[float, float] | str:
    """(scale_h, scale_w) of an NCHW resize, or why they cannot be known."""
    x = node.inputs[0]
    if node.op == "Upsample":
        scales = node.attrs.get("scales")
        if scales is None and len(node.inputs) > 1:
            scales = ir.constant_value(node.inputs[1])
    else:
        scales = (
            ir.constant_value(node.inputs[2])
            if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2])
            else None
        )
        if scales is not None and scales.size == 0:
            scales = None
        if scales is None and len(node.inputs) > 3 and not ir.is_empty(node.inputs[3]):
            sizes = ir.constant_value(node.inputs[3])
            if sizes is None or x.shape is None or not all(isinstance(d, int) for d in x.shape):
                return "Resize sizes must be constant and the input shape known"
            scales = np.asarray(sizes, dtype=np.float64) / np.asarray(x.shape, dtype=np.float64)
    if scales is None:
        return "Resize scales must be constant"
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    if len(scales) != 4 or scales[0] != 1.0 or scales[1] != 1.0:
        return f"only NCHW resizes of H and W map to Core ML (scales {scales})"
    return scales[2], scales[3]


def _mode(node: gs.Node) -> tuple[str, str] | str:
    """(Core ML upsample mode, linear mode) for the node's interpolation, or why it has none."""
    mode = node.attrs.get("mode", "nearest")
    transform = node.attrs.get(
        "coordinate_transformation_mode", "half_pixel" if node.op == "Resize" else "asymmetric"
    )
    if node.op == "Upsample":
        transform = "asymmetric"
    if mode == "nearest":
        nearest = node.attrs.get("nearest_mode", "round_prefer_floor")
        # With integer scales, floor(i / s) is what asymmetric+floor computes, and also what the
        # half-pixel transforms compute with rounding (the offset stays inside (-0.5, 0.5)).
        if (transform == "asymmetric" and nearest == "floor") or (
            transform in _HALF_PIXEL and nearest in ("round_prefer_floor", "round_prefer_ceil")
        ):
            return "NN", "DEFAULT"
        return f"nearest resize with {transform}/{nearest} does not match Core ML's nearest upsample"
    if mode in ("linear", "bilinear"):
        if transform == "align_corners":
            return "BILINEAR", "ALIGN_CORNERS_TRUE"
        if transform in _HALF_PIXEL:
            return "BILINEAR", "ALIGN_CORNERS_FALSE"
        return f"linear resize with {transform} coordinates does not match a Core ML upsample mode"
    return f"Resize mode {mode!r} has no Core ML equivalent"


def _check(node: gs.Node, target) -> str | None:
    """Restrictions: constant scales >= 1 (upsampling only); nearest needs integer scales; linear modes Core ML's upsample computes (align-corners forms need iOS14)."""
    scales = _scales(node)
    if isinstance(scales, str):
        return scales
    mode = _mode(node)
    if isinstance(mode, str):
        return mode
    if mode[0] == "NN" and not all(float(s).is_integer() for s in scales):
        return "nearest upsampling needs integer scales"
    if any(s < 1 for s in scales):
        return "downsampling resizes are not supported"
    if mode[0] == "BILINEAR" and target.spec_version < 5:
        return "bilinear upsample with align-corners modes needs iOS14 or newer"
    return None


def _emit(ctx, node: gs.Node) -> None:
    sh, sw = _scales(node)
    mode, linear_mode = _mode(node)
    if float(sh).is_integer() and float(sw).is_integer():
        sh, sw = int(sh), int(sw)
    ctx.builder.add_upsample(
        node.name,
        sh,
        sw,
        ctx.blob(node.inputs[0]),
        node.outputs[0].name,
        mode=mode,
        linear_upsample_mode=linear_mode,
    )


emitters = [
    Emitter("Resize", _emit, _check, layer="upsample"),
    Emitter("Upsample", _emit, _check, layer="upsample"),
]
