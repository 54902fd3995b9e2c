"""Legalise ScaledDotProductAttention where the target has no attention op (every NeuralNetwork, ML
Programs before iOS 18): its reference function's ops, one rule per mask kind, as
``bridgec.core.ops.attention`` writes them:

    y = ScaledDotProductAttention(q, k, v, m, scale=s, mask="boolean")
 -> y = MatMul(safe_softmax(Where(m, MatMul(q * s, Transpose(k, [0, 1, 3, 2])), -inf)), v)

where, with a mask, safe_softmax(x) = Where(ReduceMax(x) == -inf, 0, Softmax(x)): zeros for a query the mask
hides every key from, as torch computes (a plain softmax is NaN there); without
one (or causal: key 0 is always seen) a plain Softmax.

The causal rule writes the body's mask (key j seen by query i when j <= i) as the constant it
folds to, which needs L and S known; the body's other ops are the same nodes. Exact: each rule is
the reference function, op for op.
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.core.ops.attention import KEY_PERM
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet

D = ir.BRIDGEC_DOMAIN
NEG_INF = -np.inf


def _scores(op, query, key, scale):
    return op.MatMul(op.Mul(query, op.const(scale)), op.Transpose(key, perm=list(KEY_PERM)))


def _attend(op, masked, value):
    return op.MatMul(op.Softmax(masked, axis=-1), value)


def _attend_safe(op, masked, value, query, key):
    """A query the mask hides every key from gets zeros (torch's _safe_softmax), as the body says."""
    if query.shape is not None and key.shape is not None:  # the scores' [N, H, L, S]: ReduceMax needs a rank
        masked.shape = [*query.shape[:-1], key.shape[-2]]
    if op.opset < 18:  # ReduceMax's axes: an attribute before opset 18, an input from it
        top = op.ReduceMax(masked, axes=[-1], keepdims=1)
    else:
        top = op.ReduceMax(masked, op.const(np.array([-1]), np.int64), keepdims=1)
    nothing = op.Equal(top, op.const(NEG_INF))
    nothing.dtype = np.bool_  # the builder types new tensors like the matched node's output (float)
    return op.MatMul(op.Where(nothing, op.const(0.0), op.Softmax(masked, axis=-1)), value)


def plain(op, query, key, value, scale):
    return op.ScaledDotProductAttention(query, key, value, scale=scale, mask="none", _domain=D)


def plain_decomposed(op, query, key, value, scale):
    return _attend(op, _scores(op, query, key, scale), value)


def additive(op, query, key, value, attn_mask, scale):
    return op.ScaledDotProductAttention(query, key, value, attn_mask, scale=scale, mask="additive", _domain=D)


def additive_decomposed(op, query, key, value, attn_mask, scale):
    return _attend_safe(op, op.Add(_scores(op, query, key, scale), attn_mask), value, query, key)


def boolean(op, query, key, value, attn_mask, scale):
    return op.ScaledDotProductAttention(query, key, value, attn_mask, scale=scale, mask="boolean", _domain=D)


def boolean_decomposed(op, query, key, value, attn_mask, scale):
    masked = op.Where(attn_mask, _scores(op, query, key, scale), op.const(NEG_INF))
    return _attend_safe(op, masked, value, query, key)


def causal(op, query, key, value, scale):
    return op.ScaledDotProductAttention(query, key, value, scale=scale, mask="causal", _domain=D)


def _lengths(query, key) -> tuple[int, int] | None:
    sizes = [None if t.shape is None or len(t.shape) < 2 else t.shape[-2] for t in (query, key)]
    return tuple(sizes) if all(isinstance(s, int) for s in sizes) else None  # type: ignore[return-value]


def lengths_known(query, key):
    return (
        None if _lengths(query, key) else "query's or key's sequence length is unknown: give the input shapes"
    )


def causal_decomposed(op, query, key, value, scale):
    length, source = _lengths(query, key)
    keep = np.arange(source)[None, :] <= np.arange(length)[:, None]  # the body's LessOrEqual(cols, rows)
    return _attend(
        op, op.Where(op.const(keep, np.bool_), _scores(op, query, key, scale), op.const(NEG_INF)), value
    )


@register
class LegalizeAttention(RuleSet):
    """ScaledDotProductAttention the target lacks -> its reference function's MatMul/Softmax."""

    id = "lower::attention"
    # fmt: off
    rules = (
        Rule("attention_decomposed", plain, plain_decomposed, None,
             "sdpa(q, k, v, s) -> softmax(q * s @ k^T) @ v", legalize=True),
        Rule("attention_additive_decomposed", additive, additive_decomposed, None,
             "sdpa(q, k, v, m, s) -> safe_softmax(q * s @ k^T + m) @ v", legalize=True),
        Rule("attention_boolean_decomposed", boolean, boolean_decomposed, None,
             "sdpa(q, k, v, m, s) -> safe_softmax(where(m, q * s @ k^T, -inf)) @ v", legalize=True),
        Rule("attention_causal_decomposed", causal, causal_decomposed, lengths_known,
             "sdpa(q, k, v, s, causal) -> softmax(where(j <= i, q * s @ k^T, -inf)) @ v", legalize=True),
    )
    # fmt: on
