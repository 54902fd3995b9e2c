"""Elementwise math: Sqrt, Exp, Log, Abs, Neg, Reciprocal, Pow, Floor, Ceil, Sign, Erf,
Softsign and PRelu — each one Core ML layer computing the ONNX formula exactly."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.ops import Emitter
from bridgec.backends.coreml.ops.elementwise import integer
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


def _ones_blob(ctx, node: gs.Node) -> str:
    blob = f"{node.name}__one"
    ctx.builder.add_load_constant_nd(blob, blob, np.ones((1,), np.float32), (1,))
    return blob


def _reciprocal(ctx, node: gs.Node) -> None:
    # unary INVERSE computes 1 / (x + epsilon) with epsilon >= 1e-6 whenever it is 0 ("unset"),
    # which is off by 1e-4 relative at x = 0.01: a true division is exact.
    ctx.builder.add_divide_broadcastable(
        node.name, [_ones_blob(ctx, node), ctx.blob(node.inputs[0])], node.outputs[0].name
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


def _prelu(ctx, node: gs.Node) -> None:
    slope = ir.constant_value(node.inputs[1])
    x, out = ctx.blob(node.inputs[0]), node.outputs[0].name
    alpha = None if slope is None else _per_channel_slope(node, np.asarray(slope, dtype=np.float32))
    if alpha is not None:
        ctx.builder.add_activation(node.name, "PRELU", x, out, params=alpha)
        return
    # any other slope, run-time ones included: relu(x) + slope * min(x, 0), each term exact
    positive, negative, zero = f"{node.name}__pos", f"{node.name}__neg", f"{node.name}__zero"
    ctx.builder.add_activation(positive, "RELU", x, positive)
    ctx.builder.add_load_constant_nd(zero, zero, np.zeros((1,), np.float32), (1,))
    ctx.builder.add_min_broadcastable(negative, [x, zero], negative)
    scaled = f"{node.name}__scaled"
    ctx.builder.add_multiply_broadcastable(scaled, [negative, ctx.blob(node.inputs[1])], scaled)
    ctx.builder.add_add_broadcastable(node.name, [positive, scaled], out)


emitters = [
    Emitter("Sqrt", _unary("sqrt"), layer="unary"),
    Emitter("Exp", _unary("exp"), layer="unary"),
    Emitter("Log", _unary("log"), layer="unary"),
    Emitter("Abs", _unary("abs"), layer="unary"),
    Emitter("Neg", _neg, layer="activation"),
    Emitter("Reciprocal", _reciprocal, layer="divideBroadcastable"),
    Emitter("Pow", _pow, _pow_check, layer="powBroadcastable"),
    Emitter("Floor", _simple("add_floor"), layer="floor"),
    Emitter("Ceil", _simple("add_ceil"), layer="ceil"),
    Emitter("Sign", _simple("add_sign"), layer="sign"),
    Emitter("Softsign", _softsign, layer="activation"),
    Emitter("PRelu", _prelu, layer="activation"),
    # the kept Erf (ONNX Erf is normalised to it): ErfLayerParams, spec 4
    Emitter("Erf", _simple("add_erf"), domain=ir.BRIDGEC_DOMAIN, layer="erf"),
]
