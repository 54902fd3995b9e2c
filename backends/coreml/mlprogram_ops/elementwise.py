"""Elementwise arithmetic and math: Add ... Pow, unary math, variadic Min/Max (MIL broadcasts as numpy)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import MilEmitter, known_at_build, operands, unary
from bridgec.backends.coreml.neuralnetwork_layers.elementwise import integer, mod_reason
from bridgec.core import ir, ops
from bridgec.core.words import plural


def _binary(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        x, y = operands(ctx, node.inputs)
        ctx.set(node.outputs[0], getattr(ctx.mb, mil_op)(x=x, y=y, name=ctx.name(node.outputs[0])))

    return emit


def _nptype(value) -> np.dtype:
    if hasattr(value, "op"):
        from coremltools.converters.mil.mil import types

        return np.dtype(types.nptype_from_builtin(value.dtype))
    return np.asarray(value).dtype


def _min_max(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        values, name = operands(ctx, node.inputs), ctx.name(node.outputs[0])
        if len(values) == 1:  # Max/Min of one input is the input
            ctx.set(node.outputs[0], ctx.mb.identity(x=values[0], name=name))
            return
        x, y = values
        ctx.set(node.outputs[0], getattr(ctx.mb, mil_op)(x=x, y=y, name=name))

    return emit


def _two_inputs_check(node: gs.Node, target) -> str | None:
    """Restrictions: one or two inputs."""
    if len(node.inputs) > 2:
        return f"{node.op} of {plural(node.inputs, 'input')}: MIL's takes two (lower::minmax folds them)"
    return None


def _div_check(node: gs.Node, target) -> str | None:
    """Restrictions: integer operands known when building (shape arithmetic), whose quotient is
    folded: ONNX's integer Div truncates toward 0, MIL's floor_div floors."""
    if any(integer(t) for t in node.inputs) and not all(known_at_build(t) for t in node.inputs):
        return "integer Div of run-time values: ONNX truncates toward 0, MIL's floor_div floors"
    return None


def _div(ctx, node: gs.Node) -> None:
    a, b = (ctx.const(t) for t in node.inputs)
    if a is not None and b is not None and (integer(node.inputs[0]) or integer(node.inputs[1])):
        # shape arithmetic, known here: ONNX's quotient (truncated toward 0), folded
        q = np.trunc(np.asarray(a, np.float64) / np.asarray(b, np.float64))
        ctx.set(node.outputs[0], q.astype(np.result_type(a, b)))
        return
    _binary("real_div")(ctx, node)


def _pow_check(node: gs.Node, target) -> str | None:
    """Restrictions: a float exponent of a float base; an integer base only with a constant exponent
    of integral values >= 0 (MIL's pow takes one type, and an integer x^-n truncates in ONNX)."""
    base_int, exponent_int = (integer(t) for t in node.inputs)
    exponent = ir.constant_value(node.inputs[1])
    if not base_int and exponent_int and exponent is None:
        return "Pow of a float base with a run-time integer exponent: MIL's pow takes one type for both"
    if not base_int:
        return None  # a constant integer exponent is cast to float exactly
    if exponent is not None and np.array_equal(exponent, np.trunc(exponent)) and np.all(exponent >= 0):
        return None
    return "integer Pow with a run-time, negative or fractional exponent: ONNX truncates, MIL's pow has no such rule"


def _mod_check(node: gs.Node, target) -> str | None:
    """Restrictions: both operands >= 0 by construction (|x|, or a constant of no negative value),
    or both known when building (folded)."""
    if all(known_at_build(t) for t in node.inputs):
        return None
    # MIL's "x % y" is silent on signs: coremltools folds it as Python's %, its own torch and TF
    # frontends write a floored remainder with floor_div instead, and a compiled model was seen
    # to give C's sign (kasper0406/stablehlo-coreml#70)
    return mod_reason(node, "MIL mod")


def _mod(ctx, node: gs.Node) -> None:
    a, b = (ctx.const(t) for t in node.inputs)
    if a is not None and b is not None:  # shape arithmetic, known here: ONNX's remainder, folded
        remainder = np.fmod if int(ops.attr(node, "fmod")) else np.mod
        ctx.set(node.outputs[0], remainder(a, b).astype(np.result_type(a, b)))
        return
    _binary("mod")(ctx, node)


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
    MilEmitter("Div", _div, _div_check, mil_ops=("real_div",)),
    MilEmitter("Pow", _binary("pow"), _pow_check, mil_ops=("pow",)),
    MilEmitter("Mod", _mod, _mod_check, mil_ops=("mod",)),
    MilEmitter("Min", _min_max("minimum"), _two_inputs_check, mil_ops=("minimum",)),
    MilEmitter("Max", _min_max("maximum"), _two_inputs_check, mil_ops=("maximum",)),
    MilEmitter("Sqrt", unary("sqrt"), mil_ops=("sqrt",)),
    MilEmitter("Exp", unary("exp"), mil_ops=("exp",)),
    MilEmitter("Log", _log, mil_ops=("log",)),
    MilEmitter("Abs", unary("abs"), mil_ops=("abs",)),
    MilEmitter("Neg", _neg, mil_ops=("mul",)),
    MilEmitter("Reciprocal", _reciprocal, mil_ops=("real_div",)),
    MilEmitter("Erf", unary("erf"), mil_ops=("erf",)),
    MilEmitter("Floor", unary("floor"), mil_ops=("floor",)),
    MilEmitter("Ceil", unary("ceil"), mil_ops=("ceil",)),
    MilEmitter("Sign", unary("sign"), mil_ops=("sign",)),
    # the trigonometric and hyperbolic functions MIL has (no asinh, no acosh)
    *(
        MilEmitter(op, unary(op.lower()), mil_ops=(op.lower(),))
        for op in ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Atanh")
    ),
]
