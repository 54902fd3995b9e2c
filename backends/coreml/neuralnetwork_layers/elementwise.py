"""Elementwise arithmetic with numpy broadcasting (the *Broadcastable layers, spec 4+)."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core import ir, ops
from bridgec.core.words import plural

_LAYERS = {
    "Add": "add_add_broadcastable",
    "Sub": "add_subtract_broadcastable",
    "Mul": "add_multiply_broadcastable",
    "Div": "add_divide_broadcastable",
    "Max": "add_max_broadcastable",
    "Min": "add_min_broadcastable",
}


def _binary(op: str):
    method = _LAYERS[op]

    def emit(ctx, node: gs.Node) -> None:
        blobs = ctx.input_blobs(node)
        if len(blobs) == 1:  # Max/Min of one input is the input
            ctx.builder.add_activation(node.name, "LINEAR", blobs[0], node.outputs[0].name, params=[1.0, 0.0])
            return
        getattr(ctx.builder, method)(node.name, blobs, node.outputs[0].name)

    return emit


def integer(tensor: gs.Tensor) -> bool:
    """Is the tensor's type an integer one (graphsurgeon holds numpy dtypes, or ONNX enums)?"""
    value = ir.constant_value(tensor)
    dtype = value.dtype if value is not None else tensor.dtype
    if dtype is None:
        return False
    if isinstance(dtype, int):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
    try:
        return np.dtype(dtype).kind in "iu"
    except TypeError:
        return False


def non_negative(tensor: gs.Tensor) -> bool:
    """Is every value of the tensor >= 0 by construction: |x|, or a constant of no negative value
    (a remainder of such operands is the same whichever sign convention a Mod follows)?"""
    value = ir.constant_value(tensor)
    if value is not None:
        return bool(np.all(value >= 0))
    producer = tensor.inputs[0] if len(tensor.inputs) == 1 else None
    return producer is not None and ir.op_key(producer) == ("", "Abs")


def mod_reason(node: gs.Node, remainder: str) -> str | None:
    """Why a Core ML remainder (``remainder`` names it) cannot take the Mod as it is: None where both
    operands are >= 0 by construction, the only operands whose remainder Core ML documents."""
    if all(non_negative(t) for t in node.inputs):
        return None
    if not int(ops.attr(node, "fmod")) and not any(integer(t) for t in node.inputs):
        return (
            f"a floored remainder of floats (fmod=0) of operands that may be negative: {remainder} does "
            "not document its sign, and |x| and sign give no exact form of it"
        )
    return f"{remainder} does not document its sign for a negative operand; lower::mod writes Mod with |x| and sign"


def _two_inputs_check(node: gs.Node, target) -> str | None:
    """Restrictions: one or two inputs."""
    if len(node.inputs) > 2:
        return f"{node.op} of {plural(node.inputs, 'input')}: the layer takes two (lower::minmax folds them)"
    return None


def _div_check(node: gs.Node, target) -> str | None:
    """Restrictions: float operands (ONNX's integer Div truncates; the layers divide in float32)."""
    if any(integer(t) for t in node.inputs):
        return "integer Div truncates toward 0, and NeuralNetwork layers divide in float32"
    return None


_KINDS = {
    "Add": "addBroadcastable",
    "Sub": "subtractBroadcastable",
    "Mul": "multiplyBroadcastable",
    "Div": "divideBroadcastable",
    "Max": "maxBroadcastable",
    "Min": "minBroadcastable",
}

_CHECKS = {"Div": _div_check, "Max": _two_inputs_check, "Min": _two_inputs_check}

emitters = [Emitter(op, _binary(op), _CHECKS.get(op), layer=_KINDS[op]) for op in _LAYERS]
