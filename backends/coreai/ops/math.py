"""Exp, Log, Sqrt, Erf, Abs and bridgec's kept Gelu: one Core AI op each.

Semantics from the op docstrings in ``coreai/_compiler/dialects/_coreai_ops_gen.py``: each is
elementwise, its output dtype the input's, IEEE 754 special cases as in C's libm (ExpOp, LogOp,
SqrtOp, ErfOp, AbsOp). GELUOp: ``approximate`` "none" is x * 0.5 * (1 + erf(x / sqrt(2))) and
"tanh" is torch's tanh form, the two bridgec's kept Gelu declares (``bridgec.core.ops.activations``).
"""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, float_only, unary
from bridgec.core import ir, ops

_GELU_FORMS = ("none", "tanh")  # GELUOp also has "sigmoid", which no ONNX Gelu asks for


def _float_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32."""
    return float_only(node)


def _gelu_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32; approximate "none" or "tanh"."""
    form = ops.attr(node, "approximate")
    if form not in _GELU_FORMS:
        return f"approximate {form!r}: coreai.gelu is emitted for {', '.join(_GELU_FORMS)}"
    return float_only(node)


def _gelu(ctx, node: gs.Node) -> None:
    x = ctx.value(node.inputs[0])
    ctx.set(node.outputs[0], ctx.call("gelu", x, approximate=ops.attr(node, "approximate")))


emitters = [
    CoreAIEmitter("Exp", unary("exp"), _float_check, coreai_ops=("exp",)),
    CoreAIEmitter("Log", unary("log"), _float_check, coreai_ops=("log",)),
    CoreAIEmitter("Sqrt", unary("sqrt"), _float_check, coreai_ops=("sqrt",)),
    CoreAIEmitter("Erf", unary("erf"), _float_check, coreai_ops=("erf",)),
    CoreAIEmitter("Abs", unary("abs_"), _float_check, coreai_ops=("abs",)),
    CoreAIEmitter("Gelu", _gelu, _gelu_check, domain=ir.BRIDGEC_DOMAIN, coreai_ops=("gelu",)),
]
