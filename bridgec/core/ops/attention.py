"""Scaled dot-product attention as one op: what torch's ``F.scaled_dot_product_attention`` and the
attention inside ``aten::_native_multi_head_attention`` compute, kept whole so that a target with an
attention op (iOS 18's MIL ``scaled_dot_product_attention``) gets it whole, and the others get the
decomposition its reference function spells out (``lower::attention``).

Why a bridgec op and not ONNX's own ``Attention``: that op exists from opset 23, and the frontends
export at opsets 17 (TorchScript) and 18 (dynamo); a model's default-domain opset is one number for
every node, so taking opset 23 for one op would re-read every other op at opset 23.

Rank 4 only, as torch's fused kernels and its multi-head attention use it: query ``[N, H, L, E]``,
key ``[N, H, S, E]``, value ``[N, H, S, Ev]``, a mask broadcastable to ``[N, H, L, S]``. The
frontends leave other ranks to torch's own decomposition.
"""

from __future__ import annotations

import numpy as np

from bridgec.core.ops._decl import Aten, Attr, OpDecl, register

# What the mask input is, one reference function each (no ONNX op before opset 20 branches on a
# string, and an ONNX function cannot ask whether an optional input is there or what type it has):
# none (no mask input), causal (no mask input: key j is seen by query i when j <= i, torch's
# is_causal, top-left aligned), boolean (False: not attended, -inf), additive (added to the scores).
MASKS = ("none", "causal", "boolean", "additive")
# Transposes key's last two axes: the op is rank 4 (see the module docstring).
KEY_PERM = (0, 1, 3, 2)


def attention(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    attn_mask: np.ndarray | None = None,
    *,
    scale: float,
    mask: str,
) -> np.ndarray:
    """In float64, rounded once to query's dtype."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (query, key, value))
    scores = scale * (q @ np.swapaxes(k, -1, -2))
    if mask == "causal":
        length, source = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((length, source), bool)), scores, -np.inf)
    elif mask == "boolean":
        scores = np.where(np.asarray(attn_mask, bool), scores, -np.inf)
    elif mask == "additive":
        scores = scores + np.asarray(attn_mask, np.float64)
    elif mask != "none":
        raise ValueError(f"attention: mask must be one of {MASKS}, got {mask!r}")
    top = scores.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - top)
        weights = weights / weights.sum(axis=-1, keepdims=True)
    # torch's _safe_softmax: a query that attends to nothing (every score -inf) gets zeros, not NaN
    weights = np.where(top == -np.inf, 0.0, weights)
    return (weights @ v).astype(np.asarray(query).dtype)


_MASKED = {
    "none": "masked = Identity (scores)",
    "additive": "masked = Add (scores, attn_mask)",
    "boolean": "masked = Where (attn_mask, scores, ninf)",
    # the body's own causal mask: arange(S) <= arange(L)[:, None]
    "causal": """
        length_1 = Shape <start: int = -2, end: int = -1> (query)
        source_1 = Shape <start: int = -2, end: int = -1> (key)
        length = Squeeze (length_1)
        source = Squeeze (source_1)
        zero = Constant <value_int: int = 0> ()
        one = Constant <value_int: int = 1> ()
        rows_1 = Range (zero, length, one)
        cols = Range (zero, source, one)
        axis = Constant <value_ints: ints = [1]> ()
        rows = Unsqueeze (rows_1, axis)
        keep = LessOrEqual (cols, rows)
        masked = Where (keep, scores, ninf)""",
}


def _row_max(opset: int) -> str:
    # ReduceMax takes its axes as an attribute before opset 18 and as an input from it
    if opset < 18:
        return "top = ReduceMax <axes: ints = [-1], keepdims: int = 1> (masked)"
    return "last = Constant <value_ints: ints = [-1]> ()\n        top = ReduceMax <keepdims: int = 1> (masked, last)"


# A mask may hide every key from a query: torch's softmax then gives zeros (_safe_softmax), where a
# plain softmax of -inf everywhere is NaN. Without a mask (or causal: key 0 is always seen) no row of
# finite scores is -inf everywhere.
_SAFE = """
        softmax = Softmax <axis: int = -1> (masked)
        {row_max}
        nothing = Equal (top, ninf)
        zero_f = Constant <value_float: float = 0.0> ()
        zero = CastLike (zero_f, query)
        weights = Where (nothing, zero, softmax)"""
SAFE_MASKS = ("boolean", "additive")


def _body(opset: int, mask: str) -> str:
    if opset < 15:
        # CastLike and Shape's start/end are opset 15; every frontend exports at 17 or later
        raise ValueError(
            f"ScaledDotProductAttention's reference function needs opset 15 or later, not {opset}"
        )
    perm = ", ".join(str(p) for p in KEY_PERM)
    return f"""
        scale_f = Constant <value_float: float = @scale> ()
        ninf_f = Constant <value_float: float = -inf> ()
        s = CastLike (scale_f, query)
        ninf = CastLike (ninf_f, query)
        scaled = Mul (query, s)
        key_t = Transpose <perm: ints = [{perm}]> (key)
        scores = MatMul (scaled, key_t)
        {_MASKED[mask]}
        {_SAFE.format(row_max=_row_max(opset)) if mask in SAFE_MASKS else "weights = Softmax <axis: int = -1> (masked)"}
        y = MatMul (weights, value)"""


SCALED_DOT_PRODUCT_ATTENTION = register(
    OpDecl(
        "ScaledDotProductAttention",
        "softmax(scale * query @ key^T + mask) @ value, softmax over the keys (zeros for a query the mask hides every key from)",
        (
            # torch's scale=None (1 / sqrt(E)) needs query's size: the frontends always write it
            Attr("scale", "float", 1.0),
            Attr("mask", "string", "none", choices=MASKS),
        ),
        _body,
        attention,
        (Aten("scaled_dot_product_attention", inplace=False),),
        inputs=("query", "key", "value", "attn_mask"),
    )
)
