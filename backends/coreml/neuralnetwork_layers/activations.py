"""Activations, Clip, Softmax, Identity; and the kept bridgec ops that a Core ML layer computes exactly."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core import ir, ops
from bridgec.passes.canonicalize import clip_bounds, clip_bounds_or_reason
from bridgec.passes.lower.kept_activations import SOFTPLUS_MIN_THRESHOLD

_FLT_MAX = float(np.finfo(np.float32).max)


def _activation(kind: str, params=None):
    def emit(ctx, node: gs.Node) -> None:
        ctx.builder.add_activation(
            node.name, kind, ctx.blob(node.inputs[0]), node.outputs[0].name, params=params
        )

    return emit


def _leaky_relu(ctx, node: gs.Node) -> None:
    alpha = float(ops.attr(node, "alpha"))
    ctx.builder.add_activation(
        node.name, "LEAKYRELU", ctx.blob(node.inputs[0]), node.outputs[0].name, params=[alpha]
    )


def _elu(ctx, node: gs.Node) -> None:
    alpha = float(ops.attr(node, "alpha"))
    ctx.builder.add_activation(node.name, "ELU", ctx.blob(node.inputs[0]), node.outputs[0].name, params=alpha)


def _hard_sigmoid(ctx, node: gs.Node) -> None:
    params = [float(ops.attr(node, "alpha")), float(ops.attr(node, "beta"))]
    ctx.builder.add_activation(
        node.name, "SIGMOID_HARD", ctx.blob(node.inputs[0]), node.outputs[0].name, params=params
    )


def _clip_check(node: gs.Node, target) -> str | None:
    """Restrictions: constant scalar bounds; min not +inf, max not -inf."""
    bounds = clip_bounds_or_reason(node)
    return bounds if isinstance(bounds, str) else None


def _clip(ctx, node: gs.Node) -> None:
    lo, hi = clip_bounds(node)
    # ClipLayerParams stores float32: an open side becomes the largest finite float.
    ctx.builder.add_clip(
        node.name,
        ctx.blob(node.inputs[0]),
        node.outputs[0].name,
        min_value=max(lo, -_FLT_MAX),
        max_value=min(hi, _FLT_MAX),
    )


def _softmax(ctx, node: gs.Node) -> None:
    # The IR is at opset >= 13 (the frontend upgrades older models), where axis means one axis.
    axis = int(ops.attr(node, "axis"))
    ctx.builder.add_softmax_nd(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, axis=axis)


def _identity(ctx, node: gs.Node) -> None:
    ctx.builder.add_activation(
        node.name, "LINEAR", ctx.blob(node.inputs[0]), node.outputs[0].name, params=[1.0, 0.0]
    )


_GELU_MODES = {"none": "EXACT", "tanh": "TANH_APPROXIMATION"}  # GeluLayerParams, torch's two forms

# Softplus: torch returns x itself where beta * x > threshold; Core ML's softplus never does. There
# log(1 + exp(x)) - x < exp(-x), a relative difference below exp(-t) / t, which for t >= 15 is under
# float32's half-ulp (2^-24): the two round to the same float32, so only then is SOFTPLUS exact.


def _gelu_check(node: gs.Node, target) -> str | None:
    """Restrictions: approximate 'none' or 'tanh' (Core ML's gelu layer, iOS14+)."""
    mode = ops.attr(node, "approximate")
    return None if mode in _GELU_MODES else f"Gelu approximate={mode!r} has no Core ML mode"


def _gelu(ctx, node: gs.Node) -> None:
    mode = _GELU_MODES[ops.attr(node, "approximate")]
    ctx.builder.add_gelu(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, mode=mode)


def _softplus_check(node: gs.Node, target) -> str | None:
    """Restrictions: beta 1 and threshold >= 15 (ONNX Softplus qualifies)."""
    beta, threshold = float(ops.attr(node, "beta")), float(ops.attr(node, "threshold"))
    if beta != 1.0:
        return f"beta {beta} != 1: Core ML's softplus has no beta"
    if not threshold >= SOFTPLUS_MIN_THRESHOLD:
        return f"threshold {threshold} < {SOFTPLUS_MIN_THRESHOLD}: Core ML's softplus has no linear region"
    return None


def _kept(op: str, emit, check=None, min_spec: int = 4, layer: str = "activation") -> Emitter:
    return Emitter(op, emit, check, min_spec=min_spec, domain=ir.BRIDGEC_DOMAIN, layer=layer)


emitters = [
    Emitter("Relu", _activation("RELU"), layer="activation"),
    Emitter("Sigmoid", _activation("SIGMOID"), layer="activation"),
    Emitter("Tanh", _activation("TANH"), layer="activation"),
    Emitter("LeakyRelu", _leaky_relu, layer="activation"),
    Emitter("Elu", _elu, layer="activation"),
    Emitter("Softplus", _activation("SOFTPLUS"), layer="activation"),
    Emitter("HardSigmoid", _hard_sigmoid, layer="activation"),
    Emitter("Clip", _clip, _clip_check, layer="clip"),
    Emitter("Softmax", _softmax, layer="softmaxND"),
    Emitter("Identity", _identity, layer="activation"),
    # Kept ops whose torch semantics a layer has exactly (same formula, attributes as parameters).
    _kept("Gelu", _gelu, _gelu_check, min_spec=5, layer="gelu"),  # GeluLayerParams is iOS14+
    _kept("Elu", _elu),
    _kept("LeakyRelu", _leaky_relu),
    _kept("HardSigmoid", _hard_sigmoid),
    _kept("Softplus", _activation("SOFTPLUS"), _softplus_check),
]
