"""linear, matmul and einsum, as the MIL op reference describes them (iOS15 linear.py; iOS17 only
widens dtypes)."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, accumulate_dtype
from bridgec.core.words import plural


def linear(op: Op) -> np.ndarray:
    """linear: "Perform x * weight.T + bias"; x is [*D, D_in], weight [D_out, D_in], bias [D_out]
    ("Default to 0"). The reference restricts x to "1 <= rank <= 3", but coremltools' own
    fuse_matmul_weight_bias pass makes a linear of a matmul + add whatever x's rank, so the leading
    axes of any rank are taken as batch here."""
    x, w = op["x"], op["weight"]
    acc = accumulate_dtype(x, w)
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise op.error(f"weight {w.shape} must be [D_out, D_in] with D_in = last dim of input {x.shape}")
    y = np.matmul(x.astype(acc, copy=False), w.astype(acc, copy=False).T)
    bias = op.get("bias")
    return y if bias is None else y + np.asarray(bias, acc)


def matmul(op: Op) -> np.ndarray:
    """matmul: "N-D batch matrix multiplication with NumPy-style broadcasting": batch axes broadcast
    ("Rule 2"); a 1-D x is "promoted to matrix xm by prepending a 1" and a 1-D y "by appending a 1",
    the inserted dimension removed from the result; two 1-D operands give "the scalar from the dot
    product". transpose_x/y "transpose the last two dimensions", with "no effect when x is 1-D"."""
    x, y = op["x"], op["y"]
    acc = accumulate_dtype(x, y)
    x, y = x.astype(acc, copy=False), y.astype(acc, copy=False)
    if op.bool("transpose_x", False) and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if op.bool("transpose_y", False) and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    return _matmul(x, y)


def _matmul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``np.matmul(x, y)``; a batch of x against one matrix y is one product of x's stacked rows,
    which BLAS does in one call rather than one per batch item (each re-reading y)."""
    if x.ndim > 2 and y.ndim == 2:
        return np.matmul(x.reshape(-1, x.shape[-1]), y).reshape(x.shape[:-1] + y.shape[-1:])
    return np.matmul(x, y)


# einsum's two equations, each letter numbered by its first appearance: "nchw,nwhu->nchu" and
# "chw,whr->chr" ("and its equivalent equation strings")
_EINSUM_FORMS = ([[0, 1, 2, 3], [0, 3, 2, 4], [0, 1, 2, 4]], [[0, 1, 2], [2, 1, 3], [0, 1, 3]])


def _numbered(equation: str) -> list[list[int]]:
    inputs, _, output = equation.replace(" ", "").partition("->")
    first: dict[str, int] = {}
    return [[first.setdefault(c, len(first)) for c in term] for term in [*inputs.split(","), output]]


def einsum(op: Op) -> np.ndarray:
    """einsum: "The mode/equation that is currently supported is multiplying matrices that are laid out
    on dimensions -1 and -3, treating all the other dimensions as batch. Broadcasting is supported along
    batch dimensions" -- [B, C, H, W1] x [B, W1, H, W2] -> [B, C, H, W2], or the same without B, "If,
    for one of the inputs, the dimensions "B" or "H" is 1, they are broadcast"."""
    values = op["values"]
    values = (values,) if isinstance(values, np.ndarray) else tuple(values)
    equation = op.str("equation")
    if len(values) != 2 or _numbered(equation) not in _EINSUM_FORMS:
        raise op.error(f"equation {equation!r} on {plural(values, 'operand')} is not one einsum supports")
    acc = accumulate_dtype(*values)
    return np.einsum(equation, *[v.astype(acc, copy=False) for v in values], optimize=True)


def scaled_dot_product_attention(op: Op) -> np.ndarray:
    """iOS18 scaled_dot_product_attention (MIL op reference, ``coremltools.converters.mil.mil.ops.defs.
    iOS18.transformers.scaled_dot_product_attention``): "Computes the scaled dot product attention on
    query, key, and value tensors, using an optional attention mask", equivalent to
    ``softmax(Q @ K.transpose(-2, -1) / sqrt(Q.size(-1)) + attn_mask) @ V``. query ``[B, *?, L, E]``,
    key ``[B, *?, S, E]``, value ``[B, *?, S, EV]`` of one rank, at least 3 ("for batch, sequence
    length, embedding") and "a same batch dimension"; the mask "can either be bool or float": "For
    bool, it indicates whether the element should take part in the attention. Floats are added to
    the attention score", and its shape "must be broadcastable to [B, *?, L, S]". The op has no
    scale and no causal flag ("We currently do not support the dropout_p and is_causal")."""
    q, k, v = op["query"], op["key"], op["value"]
    if not q.ndim == k.ndim == v.ndim or q.ndim < 3:
        raise op.error(
            f"query, key and value must have one rank of at least 3, got {q.shape}, {k.shape}, {v.shape}"
        )
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise op.error(
            f"query, key and value must have a same batch dimension, got {q.shape}, {k.shape}, {v.shape}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise op.error(
            f"query/key embedding or key/value sequence lengths differ: {q.shape}, {k.shape}, {v.shape}"
        )
    acc = accumulate_dtype(q, k, v)
    scores = np.matmul(q.astype(acc, copy=False), np.swapaxes(k.astype(acc, copy=False), -1, -2)) / np.sqrt(
        acc.type(q.shape[-1])
    )
    mask = op.get("attn_mask")
    if mask is not None:
        try:
            np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            raise op.error(f"attn_mask {mask.shape} is not broadcastable to {scores.shape}") from None
        scores = (
            np.where(mask, scores, -np.inf)
            if mask.dtype == np.bool_
            else scores + mask.astype(acc, copy=False)
        )
    with np.errstate(invalid="ignore"):  # a row with no element taking part: NaN, as -inf - -inf
        scores = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
        weights = scores / np.sum(scores, axis=-1, keepdims=True)
    return np.matmul(weights, v.astype(acc, copy=False))


OPS = {
    "linear": linear,
    "matmul": matmul,
    "einsum": einsum,
    "scaled_dot_product_attention": scaled_dot_product_attention,
}
