"""Comparisons, boolean logic and Where (MIL select)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mil import MilEmitter, operands


def _binary(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        x, y = operands(ctx, node.inputs)
        ctx.set(node.outputs[0], getattr(ctx.mb, mil_op)(x=x, y=y, name=ctx.name(node.outputs[0])))

    return emit


def _not(ctx, node: gs.Node) -> None:
    ctx.set(node.outputs[0], ctx.mb.logical_not(x=ctx.value(node.inputs[0]), name=ctx.name(node.outputs[0])))


def _where(ctx, node: gs.Node) -> None:
    cond = ctx.value(node.inputs[0])
    # operands() types the constant branch like the variable one; the condition stays bool
    a, b = operands(ctx, node.inputs[1:])
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
    MilEmitter("Where", _where, mil_ops=("select",)),
]
