"""Add, Sub, Mul, Div, Max and Min: the exact-shape op when both shapes are equal, else the
``broadcasting_*`` op (numpy broadcasting, which is ONNX's)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, same_shape_or_broadcasting
from bridgec.core.words import plural

# int64 is held as si32 in a Core AI model (backends/coreai/inputs.py says why and checks the range)
_SUPPORTED = {np.dtype(t) for t in (np.float32, np.float16, np.int32, np.int64)}


def _binary(coreai_op: str):
    function = f"{coreai_op}_" if coreai_op == "pow" else coreai_op  # the facade's name for a builtin's

    def emit(ctx, node: gs.Node) -> None:
        ctx.set(node.outputs[0], same_shape_or_broadcasting(ctx, function, list(node.inputs)))

    return emit


def _binary_check(node: gs.Node, target) -> str | None:
    """Restrictions: two inputs of float32, float16, int32 or int64 (held as int32)."""
    if len(node.inputs) != 2:
        # docs/coverage-coreai.md records this reason (test_max_one_input): a new wording needs that
        # file regenerated (python tools/gen_coverage.py) in the same change
        return f"{plural(len(node.inputs), 'input')}; Core AI's maximum/minimum take two (lower::minmax pairs them)"
    for tensor in node.inputs:
        if tensor.dtype is not None and np.dtype(tensor.dtype) not in _SUPPORTED:
            return f"input {tensor.name!r} is {np.dtype(tensor.dtype)}; Core AI is emitted for float32, float16, int32, int64 (as int32)"
    return None


def _pow_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32 base and exponent (coreai.pow: "both inputs must have the same ... dtype")."""
    for tensor in node.inputs:
        if tensor.dtype is None or np.dtype(tensor.dtype) != np.float32:
            return f"input {tensor.name!r} is {tensor.dtype}; coreai.pow is emitted for float32 base and exponent"
    return None


def _entry(onnx_op: str, coreai_op: str) -> CoreAIEmitter:
    return CoreAIEmitter(
        onnx_op, _binary(coreai_op), _binary_check, coreai_ops=(coreai_op, f"broadcasting_{coreai_op}")
    )


emitters = [
    _entry("Add", "add"),
    _entry("Sub", "sub"),
    _entry("Mul", "mul"),
    _entry("Div", "divide"),  # integer divide truncates toward zero, as ONNX's Div does in onnxruntime
    _entry("Max", "maximum"),
    _entry("Min", "minimum"),
    # PowOp: IEEE 754 identities (x ** 0 = 1, negative base with a fractional exponent = NaN), as C's pow
    CoreAIEmitter("Pow", _binary("pow"), _pow_check, coreai_ops=("pow", "broadcasting_pow")),
]
