"""Resize and Upsample on NCHW: nearest (integer factors) and bilinear, by coordinate mode.

ONNX coordinate_transformation_mode -> MIL resize_bilinear sampling_mode (1-D, in -> out pixels):
  align_corners        x_in = x_out (in - 1) / (out - 1)           STRICT_ALIGN_CORNERS
  asymmetric           x_in = x_out in / out                        DEFAULT
  half_pixel           x_in = (x_out + 0.5) in / out - 0.5, >= 0    UNALIGN_CORNERS
  pytorch_half_pixel   the same while out > 1                       UNALIGN_CORNERS
ONNX computes with the given scale where MIL uses out / in, so the sizes must be exact multiples.
Nearest with integer factor s picks floor(x_out / s): asymmetric + floor does, and so does any
half-pixel mode with round_prefer_*, since (x + 0.5) / s - 0.5 stays within 0.5 of floor(x / s).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.backends.coreml.mil import MilEmitter, attr_str, known_at_build, static_shape
from bridgec.errors import ConversionError

_LINEAR_MODES = {
    "align_corners": "STRICT_ALIGN_CORNERS",
    "asymmetric": "DEFAULT",
    "half_pixel": "UNALIGN_CORNERS",
    "pytorch_half_pixel": "UNALIGN_CORNERS",
}
_HALF_PIXEL = ("half_pixel", "pytorch_half_pixel")


def _settings(node: gs.Node) -> tuple[str, str, str]:
    """(mode, coordinate_transformation_mode, nearest_mode); Upsample is asymmetric + floor."""
    mode = attr_str(node, "mode", "nearest")
    if node.op == "Upsample":
        return mode, "asymmetric", "floor"
    return (
        mode,
        attr_str(node, "coordinate_transformation_mode", "half_pixel"),
        attr_str(node, "nearest_mode", "round_prefer_floor"),
    )


def _sizes(
    node: gs.Node, shape: tuple[int, ...] | None, const: Callable = ir.constant_value
) -> tuple[tuple[int, ...] | None, np.ndarray | None] | str:
    """(output shape, scales) from constant scales or sizes, either None where the input shape
    (None if unknown) or a value folded only while building (``const`` is ``ctx.const`` then) is
    needed to know it; or why they cannot be known."""
    if shape is not None and len(shape) != 4:
        return f"only NCHW (rank 4) input is resized, not rank {len(shape)}"
    if node.op == "Upsample" and "scales" in node.attrs:
        scales = np.asarray(node.attrs["scales"], dtype=np.float64)
    else:
        scale_index = 1 if node.op == "Upsample" or len(node.inputs) == 2 else 2
        inputs = node.inputs
        if len(inputs) > 3 and not ir.is_empty(inputs[3]):
            sizes = const(inputs[3])
            if sizes is None:
                return (None, None) if known_at_build(inputs[3]) else "sizes must be a constant"
            out = tuple(int(d) for d in sizes.reshape(-1))
            return out, None if shape is None else np.array(out, dtype=np.float64) / np.array(shape)
        scales = const(inputs[scale_index]) if len(inputs) > scale_index else None
        if scales is None and len(inputs) > scale_index and known_at_build(inputs[scale_index]):
            return None, None
        if scales is None or scales.size == 0:
            return "scales or sizes must be a constant"
        scales = scales.astype(np.float64).reshape(-1)
    if len(scales) != 4:
        return f"only NCHW (rank 4) input is resized, not rank {len(scales)}"
    out = None if shape is None else tuple(int(np.floor(d * s)) for d, s in zip(shape, scales, strict=True))
    return out, scales


def _reason(node: gs.Node, shape: tuple[int, ...] | None, const: Callable = ir.constant_value) -> str | None:
    if int(node.attrs.get("antialias", 0)) or "axes" in node.attrs:
        return "antialias/axes have no MIL form"
    if attr_str(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
        return "keep_aspect_ratio_policy has no MIL form"
    found = _sizes(node, shape, const)
    if isinstance(found, str):
        return found
    out, scales = found
    if scales is not None and list(scales[:2]) != [1.0, 1.0] or shape and out and out[:2] != shape[:2]:
        return "only H and W can be resized"
    if shape and out and any(o != d * s for o, d, s in zip(out[2:], shape[2:], scales[2:], strict=True)):
        return f"output {out[2:]} is not exactly input {shape[2:]} x scales {tuple(scales[2:])}"
    mode, ctm, nearest = _settings(node)
    if mode == "nearest":
        factors = [o / d for o, d in zip(out[2:], shape[2:], strict=True)] if shape and out else scales
        if factors is not None and any(f != int(f) or f < 1 for f in factors[-2:]):
            return "nearest needs integer upsampling factors"
        if not (
            (ctm == "asymmetric" and nearest == "floor")
            or (ctm in _HALF_PIXEL and nearest.startswith("round"))
        ):
            return f"nearest with {ctm}/{nearest} is not MIL's floor(x / scale)"
        return None
    if mode != "linear":
        return f"mode {mode!r} has no MIL form"
    if ctm not in _LINEAR_MODES:
        return f"coordinate_transformation_mode {ctm!r} has no MIL sampling mode"
    if ctm == "pytorch_half_pixel" and out and min(out[2:]) == 1:
        return "pytorch_half_pixel to size 1 differs from MIL's sampling"
    return None


def _resize_check(node: gs.Node, target) -> str | None:
    """Restrictions: NCHW with constant scales/sizes (N, C unscaled); nearest by integer factors
    (asymmetric+floor or half_pixel+round_prefer_*); linear with align_corners/asymmetric/half_pixel/
    pytorch_half_pixel at exact multiples; no antialias, axes or keep_aspect_ratio_policy."""
    return _reason(node, static_shape(node.inputs[0]))


def _resize(ctx, node: gs.Node) -> None:
    x, name = ctx.value(node.inputs[0]), ctx.name(node.outputs[0])
    shape = tuple(int(d) for d in x.shape)
    reason = _reason(node, shape, ctx.const)  # now with the real input shape and folded values
    out, _ = _sizes(node, shape, ctx.const)
    if reason or out is None:
        raise ConversionError(f"node {node.name!r} ({node.op}): {reason or 'the output size did not fold'}")
    mode, ctm, _ = _settings(node)
    if mode == "nearest":
        y = ctx.mb.upsample_nearest_neighbor(
            x=x, scale_factor_height=out[2] // shape[2], scale_factor_width=out[3] // shape[3], name=name
        )
    else:
        y = ctx.mb.resize_bilinear(
            x=x,
            target_size_height=out[2],
            target_size_width=out[3],
            sampling_mode=_LINEAR_MODES[ctm],
            name=name,
        )
    ctx.set(node.outputs[0], y)


emitters = [
    MilEmitter("Resize", _resize, _resize_check, mil_ops=("upsample_nearest_neighbor", "resize_bilinear")),
    MilEmitter("Upsample", _resize, _resize_check, mil_ops=("upsample_nearest_neighbor", "resize_bilinear")),
]
