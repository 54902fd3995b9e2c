"""Comparisons, boolean logic and Where (MIL select)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import MilEmitter, operands


def _binary(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        x, y = operands(ctx, node.inputs)
        ctx.set(node.outputs[0], getattr(ctx.mb, mil_op)(x=x, y=y, name=ctx.name(node.outputs[0])))

    return emit


def _not(ctx, node: gs.Node) -> None:
    ctx.set(node.outputs[0], ctx.mb.logical_not(x=ctx.value(node.inputs[0]), name=ctx.name(node.outputs[0])))


def _shape(value) -> tuple[int, ...]:
    return tuple(int(d) for d in (value.shape if hasattr(value, "op") else np.shape(value)))


def _broadcast_to(ctx, node: gs.Node, value, shape: tuple[int, ...]):
    """``value`` broadcast to ``shape``: a constant directly; a variable's rank lifted by a reshape,
    then its size-1 axes tiled (MIL has no broadcast-to)."""
    if not hasattr(value, "op"):
        return np.ascontiguousarray(np.broadcast_to(value, shape))
    lifted = (1,) * (len(shape) - len(value.shape)) + _shape(value)
    if lifted != _shape(value):
        value = ctx.mb.reshape(x=value, shape=list(lifted), name=ctx.tmp(node, "lift"))
    reps = [n if d == 1 else 1 for d, n in zip(lifted, shape, strict=True)]
    return ctx.mb.tile(x=value, reps=reps, name=ctx.tmp(node, "tile"))


def _where(ctx, node: gs.Node) -> None:
    cond = ctx.value(node.inputs[0])
    # operands() types the constant branch like the variable one; the condition stays bool
    a, b = operands(ctx, node.inputs[1:])
    full = np.broadcast_shapes(_shape(cond), _shape(a), _shape(b))
    if np.broadcast_shapes(_shape(a), _shape(b)) != full:
        # select's type inference declares the broadcast of a and b alone, leaving cond's axes out
        # (the reference: "the return shape is based on broadcast rules from cond, a, b")
        a = _broadcast_to(ctx, node, a, full)
    ctx.set(node.outputs[0], ctx.mb.select(cond=cond, a=a, b=b, name=ctx.name(node.outputs[0])))


emitters = [
    MilEmitter("Equal", _binary("equal"), mil_ops=("equal",)),
    MilEmitter("Less", _binary("less"), mil_ops=("less",)),
    MilEmitter("Greater", _binary("greater"), mil_ops=("greater",)),
    MilEmitter("LessOrEqual", _binary("less_equal"), mil_ops=("less_equal",)),
    MilEmitter("GreaterOrEqual", _binary("greater_equal"), mil_ops=("greater_equal",)),
    MilEmitter("And", _binary("logical_and"), mil_ops=("logical_and",)),
    MilEmitter("Or", _binary("logical_or"), mil_ops=("logical_or",)),
    MilEmitter("Xor", _binary("logical_xor"), mil_ops=("logical_xor",)),
    MilEmitter("Not", _not, mil_ops=("logical_not",)),
    MilEmitter("Where", _where, mil_ops=("select", "reshape", "tile")),
]
