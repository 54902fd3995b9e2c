"""Comparisons, logic, Where and Cast. Core ML NeuralNetwork blobs are all float: booleans are
1.0 / 0.0 and integers are floats holding whole numbers, so these layers compute ONNX's values."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.ops import Emitter


def _compare(method: str, **options):
    def emit(ctx, node: gs.Node) -> None:
        getattr(ctx.builder, method)(node.name, ctx.input_blobs(node), node.outputs[0].name, **options)

    return emit


def _logical(mode: str):
    def emit(ctx, node: gs.Node) -> None:
        ctx.builder.add_logical(node.name, ctx.input_blobs(node), node.outputs[0].name, mode)

    return emit


def _where(ctx, node: gs.Node) -> None:
    ctx.builder.add_where_broadcastable(node.name, ctx.input_blobs(node), node.outputs[0].name)


# --- Cast --------------------------------------------------------------------------------------------
T = onnx.TensorProto
_FLOATS = {T.FLOAT, T.DOUBLE}
_WIDE_INTS = {T.INT32, T.INT64}
_INTEGRAL_SOURCES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


def _source(node: gs.Node) -> str | None:
    """The input's numpy dtype name (graphsurgeon holds numpy dtypes, or ONNX enums for others)."""
    dtype = node.inputs[0].dtype
    if dtype is None:
        return None
    if isinstance(dtype, int):
        return onnx.helper.tensor_dtype_to_np_dtype(dtype).name
    try:
        return np.dtype(dtype).name
    except TypeError:
        return None


def _cast_check(node: gs.Node, target) -> str | None:
    """Restrictions: to float, double, bool, int32 or int64."""
    to = int(node.attrs["to"])
    if to in _FLOATS | _WIDE_INTS | {T.BOOL}:
        return None
    return (
        f"Cast to {onnx.TensorProto.DataType.Name(to)}: Core ML blobs are float32, which holds "
        "float, double, bool, int32 and int64 values; cast to one of those"
    )


def _cast(ctx, node: gs.Node) -> None:
    to, x, out = int(node.attrs["to"]), ctx.blob(node.inputs[0]), node.outputs[0].name
    if to == T.BOOL:
        ctx.builder.add_not_equal(node.name, [x], out, alpha=0.0)
        return
    if to in _FLOATS or _source(node) in _INTEGRAL_SOURCES:
        ctx.builder.add_activation(node.name, "LINEAR", x, out, params=[1.0, 0.0])
        return
    # float -> int truncates toward zero: sign(x) * floor(|x|)
    magnitude, whole, sign = (f"{node.name}__{what}" for what in ("abs", "floor", "sign"))
    ctx.builder.add_unary(magnitude, x, magnitude, mode="abs")
    ctx.builder.add_floor(whole, magnitude, whole)
    ctx.builder.add_sign(sign, x, sign)
    ctx.builder.add_multiply_broadcastable(node.name, [sign, whole], out)


emitters = [
    Emitter("Equal", _compare("add_equal"), layer="equal"),
    Emitter("Less", _compare("add_less_than"), layer="lessThan"),
    Emitter("LessOrEqual", _compare("add_less_than", use_less_than_equal=True), layer="lessEqual"),
    Emitter("Greater", _compare("add_greater_than"), layer="greaterThan"),
    Emitter(
        "GreaterOrEqual", _compare("add_greater_than", use_greater_than_equal=True), layer="greaterEqual"
    ),
    Emitter("Not", _logical("NOT"), layer="logicalNot"),
    Emitter("And", _logical("AND"), layer="logicalAnd"),
    Emitter("Or", _logical("OR"), layer="logicalOr"),
    Emitter("Xor", _logical("XOR"), layer="logicalXor"),
    Emitter("Where", _where, layer="whereBroadcastable"),
    Emitter("Cast", _cast, _cast_check, layer="activation"),
]
