"""Elementwise arithmetic and math: Add ... Pow, unary math, variadic Min/Max (MIL broadcasts as numpy)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mil import MilEmitter, operands, unary


def _binary(mil_op: str, int_op: str | None = None):
    def emit(ctx, node: gs.Node) -> None:
        x, y = operands(ctx, node.inputs)
        op = mil_op
        if int_op and np.issubdtype(_nptype(x), np.integer):
            op = int_op
        ctx.set(node.outputs[0], getattr(ctx.mb, op)(x=x, y=y, name=ctx.name(node.outputs[0])))

    return emit


def _nptype(value) -> np.dtype:
    if hasattr(value, "op"):
        from coremltools.converters.mil.mil import types

        return np.dtype(types.nptype_from_builtin(value.dtype))
    return np.asarray(value).dtype


def _variadic(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        values = operands(ctx, node.inputs)
        result = values[0]
        for index, value in enumerate(values[1:], start=1):
            last = index == len(values) - 1
            name = ctx.name(node.outputs[0]) if last else ctx.tmp(node, str(index))
            result = getattr(ctx.mb, mil_op)(x=result, y=value, name=name)
        if len(values) == 1:
            result = ctx.mb.identity(x=result, name=ctx.name(node.outputs[0]))
        ctx.set(node.outputs[0], result)

    return emit


def _mod_check(node: gs.Node, target) -> str | None:
    """Restrictions: fmod 0 (integer, sign of the divisor: MIL mod's x % y)."""
    return "fmod=1 (C fmod) has no MIL op" if int(node.attrs.get("fmod", 0)) else None


def _neg(ctx, node: gs.Node) -> None:
    # MIL has no negate; x * -1 is exact
    x = ctx.value(node.inputs[0])
    minus_one = np.array(-1, dtype=_nptype(x))
    ctx.set(node.outputs[0], ctx.mb.mul(x=x, y=minus_one, name=ctx.name(node.outputs[0])))


def _reciprocal(ctx, node: gs.Node) -> None:
    # not mb.inverse: it adds epsilon (1e-4 by default) to the denominator
    x = ctx.value(node.inputs[0])
    ctx.set(node.outputs[0], ctx.mb.real_div(x=np.float32(1.0), y=x, name=ctx.name(node.outputs[0])))


def _log(ctx, node: gs.Node) -> None:
    # epsilon 0: log(0) is -inf as in ONNX, not log(1e-45)
    x = ctx.value(node.inputs[0])
    ctx.set(node.outputs[0], ctx.mb.log(x=x, epsilon=0.0, name=ctx.name(node.outputs[0])))


emitters = [
    MilEmitter("Add", _binary("add"), mil_ops=("add",)),
    MilEmitter("Sub", _binary("sub"), mil_ops=("sub",)),
    MilEmitter("Mul", _binary("mul"), mil_ops=("mul",)),
    # Integer Div truncates in ONNX, floor_div floors: they agree on the non-negative shape
    # arithmetic where integer Div appears.
    MilEmitter("Div", _binary("real_div", int_op="floor_div"), mil_ops=("real_div", "floor_div")),
    MilEmitter("Pow", _binary("pow"), mil_ops=("pow",)),
    MilEmitter("Mod", _binary("mod"), _mod_check, mil_ops=("mod",)),
    MilEmitter("Min", _variadic("minimum"), mil_ops=("minimum",)),
    MilEmitter("Max", _variadic("maximum"), mil_ops=("maximum",)),
    MilEmitter("Sqrt", unary("sqrt"), mil_ops=("sqrt",)),
    MilEmitter("Exp", unary("exp"), mil_ops=("exp",)),
    MilEmitter("Log", _log, mil_ops=("log",)),
    MilEmitter("Abs", unary("abs"), mil_ops=("abs",)),
    MilEmitter("Neg", _neg, mil_ops=("mul",)),
    MilEmitter("Reciprocal", _reciprocal, mil_ops=("real_div",)),
    MilEmitter("Erf", unary("erf"), mil_ops=("erf",)),
    MilEmitter("Floor", unary("floor"), mil_ops=("floor",)),
    MilEmitter("Ceil", unary("ceil"), mil_ops=("ceil",)),
    MilEmitter("Sin", unary("sin"), mil_ops=("sin",)),
    MilEmitter("Cos", unary("cos"), mil_ops=("cos",)),
]
