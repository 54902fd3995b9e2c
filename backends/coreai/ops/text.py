"""bridgec's kept ScaledDotProductAttention (``bridgec.core.ops.attention``), as the fixed pattern its
reference function spells out, in Core AI ops:

    scores = batch_matmul(q * scale, transpose(k, [0, 1, 3, 2]))
    masked = scores | where(mask, scores, -inf) | scores + mask | where(tril, scores, -inf)
    weights = softmax(masked, -1)        (coreai.softmax subtracts the row's maximum: SoftmaxOp)
    weights = where(reduce_max(masked, -1) == -inf, 0, weights)   (boolean and additive masks)
    y = batch_matmul(weights, v)

The last ``where`` is torch's ``_safe_softmax``: a query the mask hides every key from gets zeros,
not NaN. A causal mask always shows key 0 to every query, so it needs none. One emitter rather than
``lower::attention``'s decomposition: that one is the same ops, but through ONNX nodes whose shapes
the rule leaves unknown.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, float_only, i32, static_shape, u32
from bridgec.core import ir, ops
from bridgec.core.ops.attention import KEY_PERM

_NEG_INF = np.float32(-np.inf)


def _check(node: gs.Node, target) -> str | None:
    """Restrictions: float32; static shapes; mask none, causal, boolean or additive."""
    for tensor in node.inputs[:3]:
        if static_shape(tensor) is None:
            return f"input {tensor.name!r} has shape {tensor.shape}; needs a static shape"
    return float_only(node)


def _matmul(ctx, a, b, sa: tuple[int, ...], sb: tuple[int, ...]):
    same = len(sa) == len(sb) and sa[:-2] == sb[:-2]
    return ctx.call("batch_matmul" if same else "broadcasting_batch_matmul", a, b)


def _attention(ctx, node: gs.Node) -> None:
    query, key, value = node.inputs[:3]
    mask, scale = ops.attr(node, "mask"), np.float32(ops.attr(node, "scale"))
    sq, sk, sv = (static_shape(t) for t in (query, key, value))
    scaled = ctx.call("broadcasting_mul", ctx.value(query), scale)
    keys = ctx.call("transpose", ctx.value(key), u32(KEY_PERM))
    kt = (*sk[:-2], sk[-1], sk[-2])
    scores = _matmul(ctx, scaled, keys, sq, kt)
    length, source = sq[-2], sk[-2]
    if mask == "causal":
        keep = np.tril(np.ones((length, source), np.bool_))  # key j seen by query i when j <= i
        scores = ctx.call("broadcasting_where", keep, scores, _NEG_INF)
    elif mask == "boolean":
        scores = ctx.call("broadcasting_where", ctx.value(node.inputs[3]), scores, _NEG_INF)
    elif mask == "additive":
        scores = ctx.call("broadcasting_add", scores, ctx.value(node.inputs[3]))
    weights = ctx.call("softmax", scores, i32(-1))
    if mask in ("boolean", "additive"):
        top = ctx.call("reduce_max", scores, i32([-1]))
        hidden = ctx.call("broadcasting_equal", top, _NEG_INF)
        weights = ctx.call("broadcasting_where", hidden, np.float32(0), weights)
    out = _matmul(ctx, weights, ctx.value(value), (*sq[:-1], source), sv)
    ctx.set(node.outputs[0], out)


emitters = [
    CoreAIEmitter(
        "ScaledDotProductAttention",
        _attention,
        _check,
        domain=ir.BRIDGEC_DOMAIN,
        coreai_ops=("batch_matmul", "transpose", "softmax", "where", "reduce_max", "equal"),
    )
]
