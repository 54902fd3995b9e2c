"""Comparisons, logic and Where: Equal, Greater, Less, GreaterOrEqual, LessOrEqual, Not, And, Or,
Xor, Where.

Core AI has ``equal``, ``not_equal``, ``greater``, ``and``, ``or``, ``xor``, ``not`` and ``where``
(``_coreai_ops_gen.py``: EqualOp, GreaterOp, AndOp, NotOp, WhereOp; each result is i1), each in an
exact-shape form and a ``broadcasting_*`` one (numpy broadcasting, which is ONNX's). There is no
``less``: ``Less(a, b)`` is ``greater(b, a)``; ``GreaterOrEqual(a, b)`` is ``not(greater(b, a))``, which differs from ONNX's
at a NaN operand (false both ways), so the ``*OrEqual`` forms are taken for integers and bools only.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, same_shape_or_broadcasting

_NUMBERS = {np.dtype(t) for t in (np.float32, np.float16, np.int32, np.int64, np.bool_)}


def _dtype_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32, float16, int32, int64 (as int32) or bool operands."""
    for tensor in node.inputs:
        if tensor.dtype is not None and np.dtype(tensor.dtype) not in _NUMBERS:
            return f"input {tensor.name!r} is {np.dtype(tensor.dtype)}"
    return None


def _ordered_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32, float16, int32 or int64 (as int32) operands (coreai.greater takes no i1)."""
    for tensor in node.inputs:
        if tensor.dtype is not None and np.dtype(tensor.dtype) == np.bool_:
            return f"input {tensor.name!r} is bool; coreai.greater orders numbers only"
    return _dtype_check(node, target)


def _integer_check(node: gs.Node, target) -> str | None:
    """Restrictions: int32 or int64 (as int32) operands (for floats, not(a < b) is not a >= b at NaN)."""
    for tensor in node.inputs:
        if tensor.dtype is None or np.dtype(tensor.dtype).kind not in "iu":
            return f"input {tensor.name!r} is {tensor.dtype}; a float >= or <= has no exact Core AI form"
    return _ordered_check(node, target)


def _compare(coreai_op: str, swap: bool = False, negate: bool = False):
    def emit(ctx, node: gs.Node) -> None:
        a, b = node.inputs
        if coreai_op == "equal" and a.name == b.name:
            # Apple's pre-compilation rewrite folds equal(x, x) to true, NaN included (measured with
            # coreai-core 1.0.0b3: [1, nan] -> [true, true]), so IsNaN lowered to not(x == x) came out
            # false everywhere. not_equal(x, x) is not folded and is IEEE's (true at NaN only).
            ctx.set(node.outputs[0], ctx.call("not_", ctx.call("not_equal", ctx.value(a), ctx.value(a))))
            return
        result = same_shape_or_broadcasting(ctx, coreai_op, [b, a] if swap else [a, b])
        ctx.set(node.outputs[0], ctx.call("not_", result) if negate else result)

    return emit


def _not(ctx, node: gs.Node) -> None:
    ctx.set(node.outputs[0], ctx.call("not_", ctx.value(node.inputs[0])))


def _where(ctx, node: gs.Node) -> None:
    ctx.set(node.outputs[0], same_shape_or_broadcasting(ctx, "where", list(node.inputs)))


def _entry(op, emit, check, *coreai_ops) -> CoreAIEmitter:
    return CoreAIEmitter(op, emit, check, coreai_ops=coreai_ops)


emitters = [
    _entry("Equal", _compare("equal"), _dtype_check, "equal", "broadcasting_equal"),
    _entry("Greater", _compare("greater"), _ordered_check, "greater", "broadcasting_greater"),
    _entry("Less", _compare("greater", swap=True), _ordered_check, "greater", "broadcasting_greater"),
    _entry("GreaterOrEqual", _compare("greater", swap=True, negate=True), _integer_check, "greater", "not"),
    _entry("LessOrEqual", _compare("greater", negate=True), _integer_check, "greater", "not"),
    _entry("Not", _not, _dtype_check, "not"),
    _entry("And", _compare("and_"), _dtype_check, "and", "broadcasting_and"),
    _entry("Or", _compare("or_"), _dtype_check, "or", "broadcasting_or"),
    _entry("Xor", _compare("xor_"), _dtype_check, "xor", "broadcasting_xor"),
    _entry("Where", _where, _dtype_check, "where", "broadcasting_where"),
]
