"""Legalise a float -> integer Cast where the target cannot truncate (a NeuralNetwork's blobs are
all float: its cast is a copy). It runs in every pipeline, ``-O none`` included: the form stands
for what the NeuralNetwork emitter used to write by itself, so the report names it.

ONNX's Cast truncates toward zero: sign(x) * floor(|x|), each step exact in float, whose values
are whole, so the Cast that is left is a copy.
"""

from __future__ import annotations

import numpy as np
import onnx

from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet

_INTEGERS = {
    onnx.TensorProto.INT8,
    onnx.TensorProto.INT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.UINT8,
    onnx.TensorProto.UINT16,
    onnx.TensorProto.UINT32,
    onnx.TensorProto.UINT64,
}


def cast(op, x, to):
    return op.Cast(x, to=to)


def truncate(op, x, to):
    whole = op.Mul(op.Sign(x), op.Floor(op.Abs(x)))
    for node in op.nodes:  # the builder types new tensors like the node's output: these hold x's floats
        node.outputs[0].dtype = x.dtype
    return op.Cast(whole, to=to)


def float_to_integer(x, to):
    if int(to) not in _INTEGERS:
        return f"Cast to {onnx.TensorProto.DataType.Name(int(to))} does not truncate"
    dtype = x.dtype
    if dtype is not None and isinstance(dtype, int):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
    if dtype is not None and np.dtype(dtype).kind in "biu":
        return f"the input is already {np.dtype(dtype).name}"
    return None


@register
class LegalizeCast(RuleSet):
    """Cast float -> integer, where the target does not truncate -> cast(sign(x) * floor(|x|))."""

    id = "lower::cast"
    # fmt: off
    rules = (
        Rule("cast_to_truncation", cast, truncate, float_to_integer, "cast(x, int) -> cast(sign(x) * floor(|x|), int)", legalize=True),
    )
    # fmt: on


_WHOLE_RESULTS = frozenset({"Floor", "Ceil", "Round", "Sign"})
_WHOLE_IF_OPERANDS_ARE = frozenset({"Mul", "Abs", "Neg"})


def whole_valued(tensor) -> bool:
    """Does ``tensor`` hold whole numbers only (so a float -> integer Cast of it is a copy)? An
    integer or bool type, a constant of whole values, or what Floor/Ceil/Round/Sign make (and
    products, |.| and negations of those)."""
    from bridgec.core import ir

    dtype = tensor.dtype
    if isinstance(dtype, int):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
    if dtype is not None and np.dtype(dtype).kind in "biu":
        return True
    value = ir.constant_value(tensor)
    if value is not None:
        return bool(np.all(np.isfinite(value) & (value == np.trunc(value))))
    producer = tensor.inputs[0] if len(tensor.inputs) == 1 else None
    if producer is None or ir.op_key(producer)[0] != "":
        return False
    if producer.op in _WHOLE_RESULTS:
        return True
    return producer.op in _WHOLE_IF_OPERANDS_ARE and all(whole_valued(t) for t in producer.inputs)
