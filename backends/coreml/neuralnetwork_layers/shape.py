"""Shape-moving ops: Concat, Flatten, Reshape, Transpose, and Constant (folded into its readers)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core import ir, ops


def _concat(ctx, node: gs.Node) -> None:
    blobs = ctx.input_blobs(node)
    if len(blobs) == 1:  # ConcatNDLayerParams "requires at least 2 input": one is a copy
        ctx.builder.add_copy(node.name, blobs[0], node.outputs[0].name)
        return
    ctx.builder.add_concat_nd(node.name, blobs, node.outputs[0].name, axis=int(node.attrs["axis"]))


def _flatten(ctx, node: gs.Node) -> None:
    axis = int(ops.attr(node, "axis"))
    shape = ctx.shape(node.inputs[0])
    if axis < 0 and shape is not None:
        axis += len(shape)
    ctx.builder.add_flatten_to_2d(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, axis=axis)


def _reshape_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant target shape; a result of rank >= 1."""
    shape = ir.constant_value(node.inputs[1])
    if shape is None:
        return "Reshape target shape must be constant"
    if shape.size == 0:
        return "Core ML blobs have rank >= 1: cannot reshape to a scalar"
    return None


def _reshape(ctx, node: gs.Node) -> None:
    out_shape = ctx.shape(node.outputs[0])
    if out_shape is None:
        # Resolve ONNX's 0 (copy) and -1 (infer) against the input's known shape.
        target = [int(d) for d in ir.constant_value(node.inputs[1]).reshape(-1)]
        in_shape = ctx.shape(node.inputs[0])
        if in_shape is None:
            raise ValueError("the input shape is unknown, so the target shape cannot be resolved")
        target = [
            in_shape[i] if d == 0 and not int(ops.attr(node, "allowzero")) else d
            for i, d in enumerate(target)
        ]
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            target[target.index(-1)] = int(np.prod(in_shape)) // known
        out_shape = tuple(target)
    ctx.builder.add_reshape_static(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, list(out_shape))


def _transpose(ctx, node: gs.Node) -> None:
    perm = node.attrs.get("perm")
    if perm is None:
        rank = len(ctx.shape(node.inputs[0]))
        perm = list(reversed(range(rank)))
    ctx.builder.add_transpose(node.name, list(perm), ctx.blob(node.inputs[0]), node.outputs[0].name)


def _constant_check(node: gs.Node, target) -> str | None:
    """Restrictions: a numeric or bool value (Core ML blobs hold numbers; no strings)."""
    value = ir.constant_value(node.outputs[0])
    if value is None or np.asarray(value).dtype.kind not in "biuf":
        return "Constant of strings (or a value bridgec cannot read): Core ML blobs hold numbers"
    return None


def _constant(ctx, node: gs.Node) -> None:
    """Nothing to emit: readers of a Constant's output load it themselves (EmitContext.blob), but a
    graph output must be a layer's output of that very name."""
    out = node.outputs[0]
    if out in ctx.graph.outputs:
        value = np.asarray(ir.constant_value(out), dtype=np.float32)
        shape = value.shape or (1,)  # Core ML blobs have rank >= 1
        ctx.builder.add_load_constant_nd(node.name, out.name, value.reshape(shape), shape)


emitters = [
    Emitter("Concat", _concat, layer="concatND, copy"),
    Emitter("Flatten", _flatten, layer="flattenTo2D"),
    Emitter("Reshape", _reshape, _reshape_check, layer="reshapeStatic"),
    Emitter("Transpose", _transpose, layer="transpose"),
    Emitter("Constant", _constant, _constant_check, layer="loadConstantND"),
]
