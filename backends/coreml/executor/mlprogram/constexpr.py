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


def constexpr_lut_to_dense(op: Op) -> np.ndarray:
    if "shape" in op:
        return lut_to_dense_ios16(op)
    raise op.error(
        "the iOS18 constexpr_lut_to_dense (grouped LUTs) is not supported by the reference executor"
    )


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
