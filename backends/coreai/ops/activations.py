"""Relu, Sigmoid, Tanh, Softmax and Identity."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, float_only, i32, unary


def _identity(ctx, node: gs.Node) -> None:
    ctx.set(node.outputs[0], ctx.value(node.inputs[0]))


def _softmax_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32; opset >= 13 semantics (one axis), or the last axis."""
    return float_only(node)


def _softmax(ctx, node: gs.Node) -> None:
    # coreai.softmax's axis is a 0-D "Index type" (si16/si32): ui32 is rejected
    axis = int(node.attrs.get("axis", -1))
    ctx.set(node.outputs[0], ctx.call("softmax", ctx.value(node.inputs[0]), i32(axis)))


def _float_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32."""
    return float_only(node)


emitters = [
    CoreAIEmitter("Relu", unary("relu"), _float_check, coreai_ops=("relu",)),
    CoreAIEmitter("Sigmoid", unary("sigmoid"), _float_check, coreai_ops=("sigmoid",)),
    CoreAIEmitter("Tanh", unary("tanh"), _float_check, coreai_ops=("tanh",)),
    CoreAIEmitter("Softmax", _softmax, _softmax_check, coreai_ops=("softmax",)),
    CoreAIEmitter("Identity", _identity),
]
