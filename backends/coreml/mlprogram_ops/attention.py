"""ScaledDotProductAttention -> iOS 18's MIL ``scaled_dot_product_attention``.

The MIL op computes ``softmax(Q K^T / sqrt(E) + mask) V`` with a bool mask (False: not attended) or
an additive float one, and has neither a scale nor a causal flag (MIL op reference, iOS18
``transformers.scaled_dot_product_attention``). So the node's scale goes onto the query first, as
``scale * sqrt(E)`` (nothing when that is 1 to float32's precision: the frontends write torch's
default 1/sqrt(E), which is the MIL op's own), and a causal node gets its mask as a constant.
A mask that may hide every key from a query (one known only at run time, or a constant that does)
gets a select after the op: zeros there, as torch's softmax gives, where the MIL op's is NaN.
Earlier targets have no attention op: ``lower::attention`` decomposes the node there.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import MilEmitter, static_shape
from bridgec.core import ir, ops
from bridgec.core.errors import ConversionError

ATTENTION_IOS = 18


def _check(node: gs.Node, target) -> str | None:
    """Restrictions: query, key and value with the same batch and heads (the MIL op does not
    broadcast them; sizes the IR does not know are compared when the program is built)."""
    known = [tuple(t.shape[:-2]) for t in node.inputs[:3] if static_shape(t) is not None]
    if len(set(known)) > 1:
        return f"query, key and value batch/heads differ ({', '.join(str(s) for s in known)})"
    return None


def _attention(ctx, node: gs.Node) -> None:
    query, key, value = (ctx.value(t) for t in node.inputs[:3])
    # an ML Program's shapes are static: what the IR left symbolic is known here
    shapes = [ctx.shape(t) for t in node.inputs[:3]]
    if any(s is None for s in shapes) or len({s[:-2] for s in shapes}) != 1:  # type: ignore[index]
        raise ConversionError(
            f"node {node.name!r} ({ir.op_label(node)}): query, key and value shapes {shapes} need one batch "
            "and number of heads for MIL's scaled_dot_product_attention; use --target iOS17 to decompose it"
        )
    (*_, length, size), (*_, source, _), _ = shapes  # type: ignore[misc]
    factor = float(ops.attr(node, "scale")) * math.sqrt(size)
    if abs(factor - 1.0) > float(np.finfo(np.float32).eps):
        query = ctx.mb.mul(x=query, y=np.float32(factor), name=ctx.tmp(node, "scaled_query"))
    kind = ops.attr(node, "mask")
    mask = None
    if kind == "causal":
        mask = np.arange(source)[None, :] <= np.arange(length)[:, None]
    elif kind in ("boolean", "additive"):
        mask = ctx.value(node.inputs[3])
    out = node.outputs[0]
    extra = {} if mask is None else {"attn_mask": mask}
    guard = kind in ("boolean", "additive") and _may_hide_a_row(ctx.const(node.inputs[3]), kind)
    name = ctx.tmp(node, "unguarded") if guard else ctx.name(out)
    attended = ctx.mb.scaled_dot_product_attention(query=query, key=key, value=value, name=name, **extra)
    if guard:
        attended = _zero_hidden_rows(ctx, node, attended, mask, kind)
    ctx.set(out, attended)


def _may_hide_a_row(known: np.ndarray | None, kind: str) -> bool:
    """Can the mask hide every key from a query? Unknown until run time unless it is a constant."""
    if known is None:
        return True
    seen = known if kind == "boolean" else known > -np.inf
    return not np.all(np.any(seen, axis=-1))


def _zero_hidden_rows(ctx, node: gs.Node, attended, mask, kind: str):
    """Zeros for a query the mask hides every key from, as torch's softmax gives (the MIL op's softmax
    of -inf everywhere is NaN): select(any key seen, attention, 0)."""
    mb = ctx.mb
    if kind == "boolean":
        mask = mb.cast(x=mask, dtype="fp32", name=ctx.tmp(node, "mask_as_float"))
    top = mb.reduce_max(x=mask, axes=[-1], keep_dims=True, name=ctx.tmp(node, "mask_row_max"))
    seen = mb.greater(
        x=top, y=np.float32(0.0 if kind == "boolean" else -np.inf), name=ctx.tmp(node, "row_seen")
    )
    return mb.select(cond=seen, a=attended, b=np.float32(0.0), name=ctx.name(node.outputs[0]))


emitters = [
    MilEmitter(
        "ScaledDotProductAttention",
        _attention,
        _check,
        min_ios=ATTENTION_IOS,
        domain=ir.BRIDGEC_DOMAIN,
        mil_ops=("scaled_dot_product_attention",),
    ),
]
