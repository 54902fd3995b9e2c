"""Ops that make tensors from shapes and scalars: Shape, ConstantOfShape, Range."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.backends.coreml.neuralnetwork_layers.tensor import SCALAR_INPUT, _rank
from bridgec.core import ir, ops


def _shape_check(node: gs.Node, target) -> str | None:
    """Restrictions: known input rank when start/end are given; an input of rank >= 1."""
    if _rank(node.inputs[0]) == 0:
        return f"Shape of {SCALAR_INPUT}"
    sliced = int(ops.attr(node, "start")) != 0 or "end" in node.attrs
    if sliced and _rank(node.inputs[0]) is None:
        return "Shape with start/end needs the input's rank"
    return None


def _shape(ctx, node: gs.Node) -> None:
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    start, end = int(ops.attr(node, "start")), node.attrs.get("end")
    if start == 0 and end is None:
        ctx.builder.add_get_shape(node.name, x, out)
        return
    rank = _rank(node.inputs[0]) or len(ctx.shape(node.inputs[0]))
    begin, stop, _ = slice(start, None if end is None else int(end)).indices(rank)
    whole = f"{node.name}__shape"
    ctx.builder.add_get_shape(whole, x, whole)
    ctx.builder.add_slice_static(node.name, whole, out, [begin], [max(begin, stop)], [1], [False], [False])


def _fill_value(node: gs.Node) -> float:
    value = node.attrs.get("value")
    if value is None:
        return 0.0
    array = value.values if isinstance(value, gs.Constant) else np.asarray(value)
    return float(np.asarray(array).reshape(-1)[0])


def _constant_of_shape_check(node: gs.Node, target) -> str | None:
    """Restrictions: a result of rank >= 1 with no zero-sized axis."""
    shape = ir.constant_value(node.inputs[0])
    if shape is not None and (shape.size == 0 or np.any(shape == 0)):
        return "ConstantOfShape of a scalar or an empty shape: Core ML blobs have rank >= 1 and no empty axes"
    return None


def _constant_of_shape(ctx, node: gs.Node) -> None:
    shape, out = ir.constant_value(node.inputs[0]), node.outputs[0].name
    if shape is not None:
        ctx.builder.add_fill_static(
            node.name, out, [int(d) for d in shape.reshape(-1)], value=_fill_value(node)
        )
    else:
        ctx.builder.add_fill_dynamic(node.name, ctx.blob(node.inputs[0]), out, value=_fill_value(node))


def _range(ctx, node: gs.Node) -> None:
    values = [ir.constant_value(t) for t in node.inputs]
    out = node.outputs[0].name
    if all(v is not None for v in values):
        start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in values)
        ctx.builder.add_range_static(node.name, out, end=limit, start=start, step=delta)
        return
    start, limit, delta = node.inputs
    # RangeDynamicLayerParams reads its inputs in the order (end, start, step)
    ctx.builder.add_range_dynamic(node.name, [ctx.blob(limit), ctx.blob(start), ctx.blob(delta)], out)


emitters = [
    Emitter("Shape", _shape, _shape_check, layer="getShape"),
    Emitter("ConstantOfShape", _constant_of_shape, _constant_of_shape_check, layer="fillStatic"),
    Emitter("Range", _range, layer="rangeStatic"),
]
