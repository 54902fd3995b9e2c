"""linear, matmul and einsum (iOS15 linear.py; iOS17 only widens dtypes)."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, accumulate_dtype


def linear(op: Op) -> np.ndarray:
    x, w = op["x"], op["weight"]
    acc = accumulate_dtype(x, w)
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise op.error(f"weight {w.shape} must be [D_out, D_in] with D_in = last dim of input {x.shape}")
    y = np.matmul(x.astype(acc), w.astype(acc).T)
    bias = op.get("bias")
    return y if bias is None else y + np.asarray(bias, acc)


def matmul(op: Op) -> np.ndarray:
    x, y = op["x"], op["y"]
    acc = accumulate_dtype(x, y)
    x, y = x.astype(acc), y.astype(acc)
    # Rank-1 operands are never transposed: MIL promotes them to a row / column like numpy.
    if op.bool("transpose_x", False) and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if op.bool("transpose_y", False) and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


def einsum(op: Op) -> np.ndarray:
    values = op["values"]
    values = (values,) if isinstance(values, np.ndarray) else tuple(values)
    acc = accumulate_dtype(*values)
    return np.einsum(op.str("equation"), *[v.astype(acc) for v in values], optimize=True)


def scaled_dot_product_attention(op: Op) -> np.ndarray:
    """iOS18: softmax(Q K^T / sqrt(d) + mask) V; a bool mask marks the positions to keep."""
    q, k, v = op["query"], op["key"], op["value"]
    acc = accumulate_dtype(q, k, v)
    scores = np.matmul(q.astype(acc), np.swapaxes(k.astype(acc), -1, -2)) / np.sqrt(acc.type(q.shape[-1]))
    mask = op.get("attn_mask")
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask.astype(acc)
    scores = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    return np.matmul(scores / np.sum(scores, axis=-1, keepdims=True), v.astype(acc))


OPS = {
    "linear": linear,
    "matmul": matmul,
    "einsum": einsum,
    "scaled_dot_product_attention": scaled_dot_product_attention,
}
