"""Activations, Clip, Softmax/LogSoftmax, Identity/Dropout, and the kept ai.bridgec activations."""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import MilEmitter, static_shape, unary
from bridgec.core import ir, ops
from bridgec.passes.canonicalize import clip_bounds, clip_bounds_or_reason
from bridgec.passes.lower.kept_activations import SOFTPLUS_MIN_THRESHOLD


def _alpha(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        op = getattr(ctx.mb, mil_op)
        x = ctx.value(node.inputs[0])
        ctx.set(
            node.outputs[0], op(x=x, alpha=float(ops.attr(node, "alpha")), name=ctx.name(node.outputs[0]))
        )

    return emit


def _hard_sigmoid(ctx, node: gs.Node) -> None:
    alpha, beta = float(ops.attr(node, "alpha")), float(ops.attr(node, "beta"))
    y = ctx.mb.sigmoid_hard(
        x=ctx.value(node.inputs[0]), alpha=alpha, beta=beta, name=ctx.name(node.outputs[0])
    )
    ctx.set(node.outputs[0], y)


def _celu_check(node: gs.Node, target) -> str | None:
    """Restrictions: alpha 1 (celu(x, 1) is elu(x, 1))."""
    alpha = float(ops.attr(node, "alpha"))
    if alpha != 1.0:  # a * elu(x / a) is lower::kept_activations' celu_to_elu, for a > 0
        return f"Celu alpha {alpha} != 1: MIL's elu is celu at alpha 1 only"
    return None


def _celu(ctx, node: gs.Node) -> None:
    ctx.set(
        node.outputs[0], ctx.mb.elu(x=ctx.value(node.inputs[0]), alpha=1.0, name=ctx.name(node.outputs[0]))
    )


def _softplus_check(node: gs.Node, target) -> str | None:
    """Restrictions: beta 1, threshold >= 15 (ONNX Softplus qualifies)."""
    threshold = float(ops.attr(node, "threshold"))
    if not threshold >= SOFTPLUS_MIN_THRESHOLD:
        return f"threshold {threshold} < {SOFTPLUS_MIN_THRESHOLD}: MIL's softplus has no linear region"
    beta = float(ops.attr(node, "beta"))
    if beta != 1.0:  # softplus(b x) / b is lower::kept_activations' softplus_to_scaled
        return f"beta {beta} != 1: MIL's softplus has no beta"
    return None


_GELU_MODES = {"none": "EXACT", "tanh": "TANH_APPROXIMATION"}


def _gelu_check(node: gs.Node, target) -> str | None:
    """Restrictions: approximate 'none' or 'tanh'."""
    mode = str(ops.attr(node, "approximate"))
    return None if mode in _GELU_MODES else f"Gelu approximate={mode!r} has no MIL gelu mode"


def _gelu(ctx, node: gs.Node) -> None:
    mode = _GELU_MODES[str(ops.attr(node, "approximate"))]
    ctx.set(
        node.outputs[0], ctx.mb.gelu(x=ctx.value(node.inputs[0]), mode=mode, name=ctx.name(node.outputs[0]))
    )


def _prelu_check(node: gs.Node, target) -> str | None:
    """Restrictions: a constant slope of one value, or one per channel (dimension 1) of a rank-4
    input (at rank 3 and 5 one value for every channel): MIL's leaky_relu or prelu."""
    slope = ir.constant_value(node.inputs[1])
    if slope is not None and slope.size == 1:
        return None
    shape = static_shape(node.inputs[0])
    if slope is None or shape is None or len(shape) not in (3, 4, 5) or not _per_channel(slope, shape):
        return "PReLU's slope is not a constant of one value or one per channel (lower::prelu)"
    return None


def _prelu(ctx, node: gs.Node) -> None:
    x, slope = ctx.value(node.inputs[0]), ir.constant_value(node.inputs[1])
    if slope.size == 1:
        alpha = float(slope.reshape(()))
        ctx.set(node.outputs[0], ctx.mb.leaky_relu(x=x, alpha=alpha, name=ctx.name(node.outputs[0])))
        return
    alpha = slope.reshape(-1).astype(np.float32)
    ctx.set(node.outputs[0], ctx.mb.prelu(x=x, alpha=alpha, name=ctx.name(node.outputs[0])))


def _per_channel(slope: np.ndarray, shape: tuple[int, ...]) -> bool:
    """slope is (C, 1, ...) or (1, C, 1, ...): one value per channel of dimension 1 (at rank 3 and 5,
    the same value for every channel: MIL's prelu takes rank 3..5, per channel only at rank 4)."""
    rank = len(shape)
    want = (shape[1],) + (1,) * (rank - 2)
    if tuple(slope.shape) not in (want, (1, *want)):
        return False
    return rank == 4 or bool(np.all(slope == slope.reshape(-1)[0]))


def _bounds_check(lo: float, hi: float, target, names: tuple[str, str]) -> str | None:
    """What MIL's clip needs: finite, ordered bounds, distinct from iOS17 on (its clip validates
    alpha < beta)."""
    if lo > hi:
        return (
            f"{names[0]} {lo} > {names[1]} {hi}: every element becomes {hi}, which no single MIL op computes"
        )
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{names[0]} {lo}, {names[1]} {hi}: MIL's clip takes finite bounds (lower::clip)"
    if lo == hi and target is not None and target.ios >= 17:
        return f"{names[0]} == {names[1]} ({lo}): MIL's clip needs min < max from iOS17 on"
    return None


def _clip_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant scalar bounds, min <= max (min < max from iOS17 on)."""
    bounds = clip_bounds_or_reason(node)
    return bounds if isinstance(bounds, str) else _bounds_check(*bounds, target, ("Clip min", "max"))


def _clip_to(ctx, node: gs.Node, lo: float, hi: float) -> None:
    """min(max(x, lo), hi) for finite lo <= hi (the checks refuse the rest)."""
    x, name = ctx.value(node.inputs[0]), ctx.name(node.outputs[0])
    ctx.set(node.outputs[0], ctx.mb.clip(x=x, alpha=np.float32(lo), beta=np.float32(hi), name=name))


def _clip(ctx, node: gs.Node) -> None:
    lo, hi = clip_bounds(node)
    _clip_to(ctx, node, lo, hi)


def _hardtanh_check(node: gs.Node, target) -> str | None:
    """Restrictions: min_value <= max_value (min_value < max_value from iOS17 on)."""
    lo, hi = float(ops.attr(node, "min_value")), float(ops.attr(node, "max_value"))
    return _bounds_check(lo, hi, target, ("min_value", "max_value"))


def _hardtanh(ctx, node: gs.Node) -> None:
    _clip_to(ctx, node, float(ops.attr(node, "min_value")), float(ops.attr(node, "max_value")))


def _softmax(ctx, node: gs.Node) -> None:
    # The IR is at opset >= 13 (the frontend upgrades older models), where axis means one axis.
    axis = int(ops.attr(node, "axis"))
    ctx.set(
        node.outputs[0],
        ctx.mb.softmax(x=ctx.value(node.inputs[0]), axis=axis, name=ctx.name(node.outputs[0])),
    )


def _alias(ctx, node: gs.Node) -> None:
    # No op: the output is the input's value (build_program adds an identity if it is a graph output).
    ctx.set(node.outputs[0], ctx.value(node.inputs[0]))


def _dropout_check(node: gs.Node, target) -> str | None:
    """Restrictions: inference (training_mode absent or false); no mask output used."""
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        mode = ir.constant_value(node.inputs[2])
        if mode is None or bool(mode.reshape(())):
            return "Dropout in training mode"
    if len(node.outputs) > 1 and node.outputs[1].outputs:
        return "Dropout's mask output is used"
    return None


def _kept(op: str, emit, check=None, mil_ops=()) -> MilEmitter:
    return MilEmitter(op, emit, check, domain=ir.BRIDGEC_DOMAIN, mil_ops=mil_ops)


emitters = [
    MilEmitter("Relu", unary("relu"), mil_ops=("relu",)),
    MilEmitter("Sigmoid", unary("sigmoid"), mil_ops=("sigmoid",)),
    MilEmitter("Tanh", unary("tanh"), mil_ops=("tanh",)),
    MilEmitter("LeakyRelu", _alpha("leaky_relu"), mil_ops=("leaky_relu",)),
    MilEmitter("PRelu", _prelu, _prelu_check, mil_ops=("leaky_relu", "prelu")),
    MilEmitter("Elu", _alpha("elu"), mil_ops=("elu",)),
    MilEmitter("Celu", _celu, _celu_check, mil_ops=("elu",)),
    MilEmitter("Softplus", unary("softplus"), mil_ops=("softplus",)),
    MilEmitter("Softsign", unary("softsign"), mil_ops=("softsign",)),
    MilEmitter("HardSigmoid", _hard_sigmoid, mil_ops=("sigmoid_hard",)),
    MilEmitter("Gelu", _gelu, _gelu_check, mil_ops=("gelu",)),
    MilEmitter("Clip", _clip, _clip_check, mil_ops=("clip",)),
    MilEmitter("Softmax", _softmax, mil_ops=("softmax",)),
    MilEmitter("Identity", _alias),
    MilEmitter("Dropout", _alias, _dropout_check),
    # Kept ops (torch semantics, ir.BRIDGEC_OPS) that one MIL op computes. The others (HardSwish,
    # Mish, Selu, Celu and Softplus off their MIL form, LogSoftmax) have no MIL op: the passes lower
    # them by a named rule, so the report says so and -O none refuses them, as in a NeuralNetwork.
    _kept("HardTanh", _hardtanh, _hardtanh_check, ("clip",)),  # hardtanh(x, a, b) -> clip(x, a, b)
    _kept("HardSigmoid", _hard_sigmoid, mil_ops=("sigmoid_hard",)),
    _kept("Gelu", _gelu, _gelu_check, ("gelu",)),
    _kept("Silu", unary("silu"), mil_ops=("silu",)),
    _kept("Elu", _alpha("elu"), mil_ops=("elu",)),
    _kept("Celu", _celu, _celu_check, ("elu",)),
    _kept("Softplus", unary("softplus"), _softplus_check, ("softplus",)),
    _kept("LeakyRelu", _alpha("leaky_relu"), mil_ops=("leaky_relu",)),
    _kept("Erf", unary("erf"), mil_ops=("erf",)),
]
