"""Elementwise math: Sqrt, Exp, Log, Abs, Neg, Pow, Floor, Ceil, Sign, Erf, Softsign, PRelu, the
trigonometric and hyperbolic functions and Mod — each one Core ML layer computing the ONNX formula
exactly. Reciprocal has no such layer (unary INVERSE adds an epsilon): ``lower::reciprocal`` makes
it a division. Mod is ModBroadcastable only where the proto's silence on signs cannot matter
(``lower::mod`` writes the rest)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.backends.coreml.neuralnetwork_layers.elementwise import integer, mod_reason
from bridgec.core import ir


def _unary(mode: str):
    """UnaryFunctionLayerParams f(x) with scale 1 and shift 0 (SQRT, EXP, LOG, ABS)."""

    def emit(ctx, node: gs.Node) -> None:
        ctx.builder.add_unary(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, mode=mode)

    return emit


def _simple(method: str):
    def emit(ctx, node: gs.Node) -> None:
        getattr(ctx.builder, method)(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name)

    return emit


def _neg(ctx, node: gs.Node) -> None:
    # linear(alpha=-1, beta=0) flips the sign bit only: exact for every input, -0 and NaN included
    ctx.builder.add_activation(
        node.name, "LINEAR", ctx.blob(node.inputs[0]), node.outputs[0].name, params=[-1.0, 0.0]
    )


def _pow_check(node: gs.Node, target) -> str | None:
    """Restrictions: an integer base only with a constant exponent of integral values >= 0."""
    if not integer(node.inputs[0]):
        return None
    exponent = ir.constant_value(node.inputs[1])
    if exponent is not None and np.array_equal(exponent, np.trunc(exponent)) and np.all(exponent >= 0):
        return None
    return (
        "integer Pow with a run-time, negative or fractional exponent truncates its result, and "
        "NeuralNetwork layers compute in float32"
    )


def _pow(ctx, node: gs.Node) -> None:
    ctx.builder.add_pow_broadcastable(node.name, ctx.input_blobs(node), node.outputs[0].name)


def _softsign(ctx, node: gs.Node) -> None:
    ctx.builder.add_activation(node.name, "SOFTSIGN", ctx.blob(node.inputs[0]), node.outputs[0].name)


def _mod_check(node: gs.Node, target) -> str | None:
    """Restrictions: both operands >= 0 by construction (|x|, or a constant of no negative value)."""
    # ModBroadcastableLayerParams says "element-wise modular operation" and no more
    return mod_reason(node, "ModBroadcastable")


def _mod(ctx, node: gs.Node) -> None:
    ctx.builder.add_mod_broadcastable(node.name, ctx.input_blobs(node), node.outputs[0].name)


# ONNX op -> the one-input layer (Sin ... AtanhLayerParams, spec 4) the builder method adds
_TRIGONOMETRIC = {
    "Sin": "sin",
    "Cos": "cos",
    "Tan": "tan",
    "Asin": "asin",
    "Acos": "acos",
    "Atan": "atan",
    "Sinh": "sinh",
    "Cosh": "cosh",
    "Asinh": "asinh",
    "Acosh": "acosh",
    "Atanh": "atanh",
}


def _per_channel_slope(node: gs.Node, slope: np.ndarray) -> np.ndarray | None:
    """The slope as PReLU's alpha (one value, or one per channel of axis -3), if it has that form."""
    if slope.size == 1:
        return slope.reshape(1)
    shape = node.inputs[0].shape
    rank = len(shape) if shape is not None else None
    if rank is None or rank < 3 or slope.ndim > rank:
        return None
    padded = (1,) * (rank - slope.ndim) + slope.shape
    if padded[-2:] == (1, 1) and all(d == 1 for d in padded[:-3]) and padded[-3] == shape[-3]:
        return slope.reshape(-1)
    return None


def _prelu_alpha(node: gs.Node) -> np.ndarray | None:
    slope = ir.constant_value(node.inputs[1])
    return None if slope is None else _per_channel_slope(node, np.asarray(slope, dtype=np.float32))


def _prelu_check(node: gs.Node, target) -> str | None:
    """Restrictions: a constant slope of one value, or one per channel (axis -3) of a rank >= 3 input."""
    if _prelu_alpha(node) is None:
        return "PReLU's slope is not a constant of one value or one per channel (lower::prelu)"
    return None


def _prelu(ctx, node: gs.Node) -> None:
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    ctx.builder.add_activation(node.name, "PRELU", x, out, params=_prelu_alpha(node))


emitters = [
    Emitter("Sqrt", _unary("sqrt"), layer="unary"),
    Emitter("Exp", _unary("exp"), layer="unary"),
    Emitter("Log", _unary("log"), layer="unary"),
    Emitter("Abs", _unary("abs"), layer="unary"),
    Emitter("Neg", _neg, layer="activation"),
    Emitter("Pow", _pow, _pow_check, layer="powBroadcastable"),
    Emitter("Floor", _simple("add_floor"), layer="floor"),
    Emitter("Ceil", _simple("add_ceil"), layer="ceil"),
    Emitter("Sign", _simple("add_sign"), layer="sign"),
    Emitter("Softsign", _softsign, layer="activation"),
    Emitter("PRelu", _prelu, _prelu_check, layer="activation"),
    # the kept Erf (ONNX Erf is normalised to it): ErfLayerParams, spec 4
    Emitter("Erf", _simple("add_erf"), domain=ir.BRIDGEC_DOMAIN, layer="erf"),
    Emitter("Mod", _mod, _mod_check, layer="modBroadcastable"),
    *(Emitter(op, _simple(f"add_{kind}"), layer=kind) for op, kind in _TRIGONOMETRIC.items()),
]
