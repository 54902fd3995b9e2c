"""bridgec's own ops, each declared once (``OpDecl``), and where every attribute default lives.

    from bridgec.core import ops
    ops.get("Gelu").semantics          # one line, in torch's terms
    ops.get("Gelu").functions(ops.BRIDGEC_DOMAIN, 17)   # the reference ONNX functions
    ops.get("Gelu").numpy(x, approximate="tanh")        # the numpy reference
    ops.attr(node, "alpha")            # the node's attribute, or its declared / ONNX default

One module per op family declares its ops (``activations``); lowering rules, emitters, kernels,
frontend symbolics and docs read the declarations. ``docs/adding-an-op.md`` walks through adding one.
"""

from __future__ import annotations

from bridgec.core.ops import activations, attention
from bridgec.core.ops._decl import (
    BRIDGEC_DOMAIN,
    BRIDGEC_OPSET,
    CUSTOM_DOMAIN,
    Aten,
    Attr,
    OpDecl,
    all_ops,
    aten_node,
    get,
    is_declared,
    register,
)
from bridgec.core.ops.defaults import attr, default
from bridgec.core.ops.status import CUSTOM, LOWERED, NATIVE, REMOVED, STATUSES, UNSUPPORTED

# ``ops.all()`` reads as the registry's question; the module-level name is all_ops for importers.
all = all_ops  # noqa: A001

__all__ = [
    "BRIDGEC_DOMAIN",
    "BRIDGEC_OPSET",
    "CUSTOM",
    "CUSTOM_DOMAIN",
    "LOWERED",
    "NATIVE",
    "REMOVED",
    "STATUSES",
    "UNSUPPORTED",
    "Aten",
    "Attr",
    "OpDecl",
    "activations",
    "all",
    "attention",
    "all_ops",
    "aten_node",
    "attr",
    "default",
    "get",
    "is_declared",
    "register",
]
