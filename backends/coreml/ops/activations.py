"""Activations, Clip, Softmax, Identity."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs
from bridgec.backends.coreml.ops import Emitter
from bridgec.passes.canonicalize import clip_bounds

_FLT_MAX = float(np.finfo(np.float32).max)


def _activation(kind: str, params=None):
    def emit(ctx, node: gs.Node) -> None:
        ctx.builder.add_activation(
            node.name, kind, ctx.blob(node.inputs[0]), node.outputs[0].name, params=params
        )

    return emit


def _leaky_relu(ctx, node: gs.Node) -> None:
    alpha = float(node.attrs.get("alpha", 0.01))
    ctx.builder.add_activation(
        node.name, "LEAKYRELU", ctx.blob(node.inputs[0]), node.outputs[0].name, params=[alpha]
    )


def _elu(ctx, node: gs.Node) -> None:
    alpha = float(node.attrs.get("alpha", 1.0))
    ctx.builder.add_activation(node.name, "ELU", ctx.blob(node.inputs[0]), node.outputs[0].name, params=alpha)


def _hard_sigmoid(ctx, node: gs.Node) -> None:
    params = [float(node.attrs.get("alpha", 0.2)), float(node.attrs.get("beta", 0.5))]
    ctx.builder.add_activation(
        node.name, "SIGMOID_HARD", ctx.blob(node.inputs[0]), node.outputs[0].name, params=params
    )


def _clip_check(node: gs.Node, target) -> str | None:
    return None if clip_bounds(node) is not None else "Clip bounds must be constant scalars"


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
    axis = int(node.attrs.get("axis", -1))
    ctx.builder.add_softmax_nd(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, axis=axis)


def _identity(ctx, node: gs.Node) -> None:
    ctx.builder.add_activation(
        node.name, "LINEAR", ctx.blob(node.inputs[0]), node.outputs[0].name, params=[1.0, 0.0]
    )


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
]
