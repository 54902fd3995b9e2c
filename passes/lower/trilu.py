"""Legalise Trilu (torch's triu/tril; Hugging Face builds causal masks with them), which neither
Core ML format has. It runs in every pipeline, ``-O none`` included: the form stands for what an
emitter would otherwise write by itself, so the report names it.

Trilu keeps the elements on one side of the k-th diagonal of the last two axes and zeroes the rest:
where(mask, x, 0) with the constant mask np.triu / np.tril(ones(M, N), k), broadcast over the
leading axes (for bool x: x and mask). Exact: each element is x or 0, for every dtype (a product
with a 0/1 mask would turn an inf into nan).
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def trilu(op, x, upper):
    return op.Trilu(x, upper=upper)


def trilu_k(op, x, k, upper):
    return op.Trilu(x, k, upper=upper)


def _masked(op, x, upper, k):
    rows, cols = (int(d) for d in x.shape[-2:])
    diagonal = 0 if k is None or ir.is_empty(k) else int(ir.constant_value(k).reshape(()))
    keep = op.const((np.triu if upper else np.tril)(np.ones((rows, cols), bool), diagonal), np.bool_)
    if x.dtype is not None and np.dtype(x.dtype) == np.bool_:
        return op.And(x, keep)  # x or false: onnxruntime has no Where of bools
    return op.Where(keep, x, op.const(0, np.dtype(x.dtype) if x.dtype is not None else np.float32))


def masked(op, x, upper):
    return _masked(op, x, upper, None)


def masked_k(op, x, k, upper):
    return _masked(op, x, upper, k)


def static_matrix(x, upper):
    shape = x.shape
    if shape is None or len(shape) < 2 or not all(isinstance(d, int) for d in shape[-2:]):
        return f"the last two dimensions of {x.name!r} are not static ({shape})"
    return None


def static_matrix_k(x, k, upper):
    if ir.is_empty(k):
        return static_matrix(x, upper)
    value = ir.constant_value(k)
    if value is None or value.size != 1:
        return "the diagonal k is computed at run time"
    return static_matrix(x, upper)


@register
class LegalizeTrilu(RuleSet):
    """Trilu of a static matrix and a constant k -> where(triangular mask, x, 0) (bool x: and)."""

    id = "lower::trilu"
    # fmt: off
    rules = (
        Rule("trilu_to_where", trilu, masked, static_matrix, "trilu(x, upper) -> where(mask(upper, 0), x, 0)   (bool x: x and mask)", legalize=True),
        Rule("trilu_k_to_where", trilu_k, masked_k, static_matrix_k, "trilu(x, k, upper) -> where(mask(upper, k), x, 0)   (k constant; bool x: x and mask)", legalize=True),
    )
    # fmt: on
