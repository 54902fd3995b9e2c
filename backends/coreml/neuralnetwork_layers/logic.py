"""Comparisons, logic, Where and Cast. Core ML NeuralNetwork blobs are all float: booleans are
1.0 / 0.0 and integers are floats holding whole numbers, so these layers compute ONNX's values."""

from __future__ import annotations

import onnx
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.passes.lower.cast import whole_valued


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


def _cast_check(node: gs.Node, target) -> str | None:
    """Restrictions: to float, double, bool, int32 or int64; to an integer type only from whole
    numbers (an integer type, or what floor/ceil/round/sign make)."""
    to = int(node.attrs["to"])
    if to not in _FLOATS | _WIDE_INTS | {T.BOOL}:
        return (
            f"Cast to {onnx.TensorProto.DataType.Name(to)}: Core ML blobs are float32, which holds "
            "float, double, bool, int32 and int64 values; cast to one of those"
        )
    if to in _WIDE_INTS and not whole_valued(node.inputs[0]):
        return (
            "Cast of floats to an integer type truncates, which a copy of float blobs does not (lower::cast)"
        )
    return None


def _cast(ctx, node: gs.Node) -> None:
    to, x, out = int(node.attrs["to"]), ctx.blob(node.inputs[0]), node.outputs[0].name
    if to == T.BOOL:
        ctx.builder.add_not_equal(node.name, [x], out, alpha=0.0)
        return
    # blobs are float32: a float, or whole numbers bound for an integer type, are copied as they are
    ctx.builder.add_activation(node.name, "LINEAR", x, out, params=[1.0, 0.0])


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
