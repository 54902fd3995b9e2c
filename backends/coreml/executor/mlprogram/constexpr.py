"""Compressed-weight ops evaluated at load time on device: constexpr_* (iOS16, iOS18) and the
iOS17 runtime ``quantize`` / ``dequantize``."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn
from bridgec.backends.coreml.executor.mlprogram.blob import unpack_bits


def _along(v: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """A scalar or a vector laid along ``axis`` of a rank-``rank`` tensor."""
    v = np.asarray(v)
    if v.ndim == 0 or v.size == 1:
        return v.reshape(())
    shape = [1] * rank
    shape[axis] = v.size
    return v.reshape(shape)


def affine_dequantize(op: Op) -> np.ndarray:
    q = op["quantized_data"]
    axis = op.axis("axis", q.ndim, 0)
    zero, scale = _along(op["zero_point"], axis, q.ndim), _along(op["scale"], axis, q.ndim)
    return (q.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)


def dequantize(op: Op) -> np.ndarray:
    x = op["input"]
    axis = op.axis("axis", x.ndim, 0) if op.get("axis") is not None else 0
    zero = _along(op.get("zero_point", np.zeros((), x.dtype)), axis, x.ndim)
    scale = _along(op["scale"], axis, x.ndim)
    return (x.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)


def quantize(op: Op) -> np.ndarray:
    x = op["input"]
    axis = op.axis("axis", x.ndim, 0) if op.get("axis") is not None else 0
    zero = _along(op.get("zero_point", np.zeros((), np.int32)), axis, x.ndim)
    scale = _along(op["scale"], axis, x.ndim)
    dtype = op.dtype("output_dtype")
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float32) / scale.astype(np.float32)) + zero.astype(np.float32)
    return np.clip(q, info.min, info.max).astype(dtype)


def _expand_blocks(v: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """iOS18 block-wise parameters: each dim of ``v`` divides the data's; repeat to full size."""
    for axis, (n, m) in enumerate(zip(v.shape, shape, strict=True)):
        if m % n:
            raise ValueError(f"block parameter shape {v.shape} does not divide data shape {shape}")
        v = np.repeat(v, m // n, axis=axis)
    return v


def blockwise_shift_scale(op: Op) -> np.ndarray:
    data = op["data"]
    scale = op["scale"]
    if scale.ndim != data.ndim:
        raise op.error(f"scale {scale.shape} must have the rank of data {data.shape}")
    y = data.astype(np.float32)
    if op.get("offset") is not None:
        y = y - _expand_blocks(op["offset"].astype(np.float32), data.shape)
    return y * _expand_blocks(scale.astype(np.float32), data.shape)


def lut_to_dense_ios16(op: Op) -> np.ndarray:
    lut, shape = op["lut"], tuple(op.ints("shape"))
    bits = int(np.log2(lut.size))
    count = int(np.prod(shape))
    index = unpack_bits(op["indices"], bits, False, count).astype(np.int64)
    return lut[index].reshape(shape)


def sparse_to_dense_ios16(op: Op) -> np.ndarray:
    shape = tuple(op.ints("shape"))
    count = int(np.prod(shape))
    mask = unpack_bits(op["mask"], 1, False, count).astype(bool)
    out = np.zeros(count, op["nonzero_data"].dtype)
    out[mask] = op["nonzero_data"]
    return out.reshape(shape)


def lut_to_dense_ios18(op: Op) -> np.ndarray:
    """MIL op reference, iOS18 ``constexpr_lut_to_dense``: ``lut`` has rank K + 2 for rank-K
    ``indices``, shape [G_0 .. G_K-1, NUM_PALETTES, VECTOR_SIZE]; each indices dim is divisible by its
    G_i and the indices of block (b_0 .. b_K-1) read LUT ``lut[b_0, .., b_K-1]``. With VECTOR_SIZE > 1
    each index stands for VECTOR_SIZE consecutive values along ``vector_axis`` (the output is that
    much longer there)."""
    indices, lut = op["indices"].astype(np.int64), op["lut"]
    rank = indices.ndim
    if lut.ndim != rank + 2:
        raise op.error(f"lut {lut.shape} must have 2 more dims than indices {indices.shape}")
    groups, (palettes, vector) = lut.shape[:rank], lut.shape[rank:]
    table = np.zeros(indices.shape, np.int64)  # the flat number of each element's LUT
    for axis, (n, g) in enumerate(zip(indices.shape, groups, strict=True)):
        if n % g:
            raise op.error(f"indices dim {axis} ({n}) is not divisible by the lut's ({g})")
        shape = [1] * rank
        shape[axis] = n
        table = table * g + (np.arange(n) // (n // g)).reshape(shape)
    out = lut.reshape(-1, palettes, vector)[table, indices]  # indices.shape + (VECTOR_SIZE,)
    if vector == 1:
        return out[..., 0]
    axis = op.axis("vector_axis", rank)
    out = np.moveaxis(out, -1, axis + 1)
    shape = list(indices.shape)
    shape[axis] *= vector
    return out.reshape(shape)


def constexpr_lut_to_dense(op: Op) -> np.ndarray:
    # the iOS16 form names the output shape and packs the indices; the iOS18 one has neither
    return lut_to_dense_ios16(op) if "shape" in op else lut_to_dense_ios18(op)


def constexpr_sparse_to_dense(op: Op) -> np.ndarray:
    if "shape" in op:
        return sparse_to_dense_ios16(op)
    mask = op["mask"].astype(bool)
    out = np.zeros(mask.shape, op["nonzero_data"].dtype)
    out[mask] = op["nonzero_data"]
    return out


OPS: dict[str, OpFn] = {
    "constexpr_affine_dequantize": affine_dequantize,
    "constexpr_cast": lambda op: op["source_val"].astype(op.dtype("output_dtype")),
    "constexpr_blockwise_shift_scale": blockwise_shift_scale,
    "constexpr_lut_to_dense": constexpr_lut_to_dense,
    "constexpr_sparse_to_dense": constexpr_sparse_to_dense,
    "dequantize": dequantize,
    "quantize": quantize,
}
