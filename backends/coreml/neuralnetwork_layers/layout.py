"""Ops that repeat or rearrange data: Expand, Tile, Pad, DepthToSpace, SpaceToDepth."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.backends.coreml.neuralnetwork_layers.tensor import _rank
from bridgec.core import ir, ops


def _expand(ctx, node: gs.Node) -> None:
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    shape = ir.constant_value(node.inputs[1])
    known = ctx.shape(node.inputs[0])
    if shape is not None and known is not None:
        # Expand broadcasts both ways: the static layer gets the full result shape
        target = np.broadcast_shapes(known, tuple(int(d) for d in shape.reshape(-1)))
        ctx.builder.add_broadcast_to_static(node.name, x, out, list(target))
        return
    # A run-time shape may hold 1 where x is wider (ONNX keeps x's extent there): x * ones(shape)
    # broadcasts both ways by numpy's rule, and multiplying by 1 is exact.
    ones = f"{node.name}__ones"
    ctx.builder.add_fill_dynamic(ones, ctx.blob(node.inputs[1]), ones, value=1.0)
    ctx.builder.add_multiply_broadcastable(node.name, [x, ones], out)


def _tile_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant repeats before iOS14."""
    if ir.constant_value(node.inputs[1]) is None and target.spec_version < 5:
        return "Tile with run-time repeats needs iOS14 or newer (TileLayerParams' second input)"
    return None


def _tile(ctx, node: gs.Node) -> None:
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    repeats = ir.constant_value(node.inputs[1])
    if repeats is None:
        ctx.builder.add_tile(node.name, [x, ctx.blob(node.inputs[1])], out)
    else:
        ctx.builder.add_tile(node.name, x, out, reps=[int(r) for r in repeats.reshape(-1)])


# --- Pad ---------------------------------------------------------------------------------------------


def _pad_args(node: gs.Node) -> tuple[list[int], float, list[int] | None] | None:
    """(pads, constant value, axes) when all are constant, else None."""
    pads = ir.constant_value(node.inputs[1]) if len(node.inputs) > 1 else None
    if pads is None:
        return None
    value = 0.0
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        constant = ir.constant_value(node.inputs[2])
        if constant is None:
            return None
        value = float(np.asarray(constant).reshape(-1)[0]) if constant.size else 0.0
    axes = None
    if len(node.inputs) > 3 and not ir.is_empty(node.inputs[3]):
        given = ir.constant_value(node.inputs[3])
        if given is None:
            return None
        axes = [int(a) for a in given.reshape(-1)]
    return [int(p) for p in pads.reshape(-1)], value, axes


def _per_axis(node: gs.Node, rank: int) -> tuple[list[tuple[int, int]], float]:
    pads, value, axes = _pad_args(node)
    axes = [a % rank for a in axes] if axes is not None else list(range(rank))
    half = len(pads) // 2
    width = [(0, 0)] * rank
    for i, axis in enumerate(axes):
        width[axis] = (pads[i], pads[half + i])  # ONNX: all begins, then all ends
    return width, value


def _pad_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant pads, value and axes; no negative pads; known rank; reflect/edge pad
    only the last two axes."""
    if "pads" in node.attrs:
        return "Pad-2 attributes (the IR is opset >= 13)"
    if _pad_args(node) is None:
        return "Pad pads, constant_value and axes must be constant"
    rank = _rank(node.inputs[0])
    if rank is None:
        return "Pad needs the input's rank"
    width, _ = _per_axis(node, rank)
    if any(b < 0 or e < 0 for b, e in width):
        return "Pad with negative pads (cropping); use Slice"
    mode = ops.attr(node, "mode")
    if mode not in ("constant", "reflect", "edge"):
        return f"Pad mode {mode!r} has no Core ML layer"
    if mode != "constant" and (rank < 2 or any(w != (0, 0) for w in width[:-2])):
        return f"Pad mode {mode!r} pads only the last two axes in Core ML"
    return None


def _pad(ctx, node: gs.Node) -> None:
    rank = _rank(node.inputs[0])
    width, value = _per_axis(node, rank)
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    mode = ops.attr(node, "mode")
    if mode == "constant":
        amounts = [n for pair in width for n in pair]
        ctx.builder.add_constant_pad(node.name, [x], out, value=value, pad_amounts=amounts)
        return
    (top, bottom), (left, right) = width[-2:]
    ctx.builder.add_padding(
        node.name,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        input_name=x,
        output_name=out,
        padding_type="reflection" if mode == "reflect" else "replication",
    )


# --- DepthToSpace / SpaceToDepth ---------------------------------------------------------------------


def _reorganize_check(node: gs.Node, target) -> str | None:
    """Restrictions: rank-4 input; mode CRD only for DepthToSpace, from iOS14."""
    rank = _rank(node.inputs[0])
    if rank is not None and rank != 4:
        return f"{node.op} needs a rank-4 NCHW input (rank {rank})"
    crd = ops.attr(node, "mode") == "CRD"
    if crd and node.op == "SpaceToDepth":
        return "SpaceToDepth mode CRD (pixel unshuffle) has no Core ML layer"
    if crd and target.spec_version < 5:
        return "DepthToSpace mode CRD (pixel shuffle) needs iOS14 or newer"
    return None


def _reorganize(mode: str):
    def emit(ctx, node: gs.Node) -> None:
        kind = "PIXEL_SHUFFLE" if ops.attr(node, "mode") == "CRD" else mode
        ctx.builder.add_reorganize_data(
            node.name,
            ctx.blob(node.inputs[0]),
            node.outputs[0].name,
            mode=kind,
            block_size=int(node.attrs["blocksize"]),
        )

    return emit


emitters = [
    Emitter("Expand", _expand, layer="broadcastToStatic"),
    Emitter("Tile", _tile, _tile_check, layer="tile"),
    Emitter("Pad", _pad, _pad_check, layer="constantPad"),
    Emitter("DepthToSpace", _reorganize("DEPTH_TO_SPACE"), _reorganize_check, layer="reorganizeData"),
    Emitter("SpaceToDepth", _reorganize("SPACE_TO_DEPTH"), _reorganize_check, layer="reorganizeData"),
]
