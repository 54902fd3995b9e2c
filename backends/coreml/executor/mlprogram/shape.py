"""Layout ops: reshape, expand_dims, squeeze, transpose, slicing, reverse, depth/space moves
(iOS15/16 tensor_transformation.py, flatten2d from tensor_operation.py)."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn


def reshape(op: Op) -> np.ndarray:
    x = op["x"]
    declared = op.out_shapes[0] if op.out_shapes else None
    if declared is not None:
        # The program's inferred type already resolved -1 and 0 entries.
        return x.reshape(declared)
    shape = op.ints("shape")
    if len(shape) == x.ndim:  # only then does 0 mean "keep this dim of x"
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def expand_dims(op: Op) -> np.ndarray:
    x = op["x"]
    axes = op.ints("axes")
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return x


def squeeze(op: Op) -> np.ndarray:
    x = op["x"]
    if op.get("axes") is None:
        return np.squeeze(x)
    axes = tuple(a % x.ndim for a in op.ints("axes"))
    bad = [a for a in axes if x.shape[a] != 1]
    if bad:
        raise op.error(f"cannot squeeze axes {bad} of shape {x.shape}: they are not 1")
    return np.squeeze(x, axis=axes)


def transpose(op: Op) -> np.ndarray:
    return np.transpose(op["x"], op.ints("perm"))


def reverse(op: Op) -> np.ndarray:
    x = op["x"]
    if op.get("axes") is None:
        return np.flip(x)
    return np.flip(x, axis=tuple(a % x.ndim for a in op.ints("axes")))


def _slice_index(op: Op, rank: int) -> tuple:
    """The numpy index for slice_by_index / slice_update: masks drop begin or end, and a
    squeeze_mask axis takes the single element at ``begin``."""
    begin, end = op.ints("begin"), op.ints("end")
    stride = op.ints("stride", [1] * rank)
    begin_mask = [bool(v) for v in op.ints("begin_mask", [0] * rank)]
    end_mask = [bool(v) for v in op.ints("end_mask", [0] * rank)]
    squeeze_mask = [bool(v) for v in op.ints("squeeze_mask", [0] * rank)]
    index: list = []
    for i in range(rank):
        if squeeze_mask[i]:
            index.append(begin[i])
            continue
        index.append(slice(None if begin_mask[i] else begin[i], None if end_mask[i] else end[i], stride[i]))
    return tuple(index)


def slice_by_index(op: Op) -> np.ndarray:
    x = op["x"]
    return x[_slice_index(op, x.ndim)]


def slice_update(op: Op) -> np.ndarray:
    x = op["x"].copy()
    index = _slice_index(op, x.ndim)
    x[index] = np.reshape(op["update"], x[index].shape)
    return x


def slice_by_size(op: Op) -> np.ndarray:
    x = op["x"]
    begin, size = op.ints("begin"), op.ints("size")
    index = []
    for i, (b, s) in enumerate(zip(begin, size, strict=True)):
        b = b % x.shape[i] if x.shape[i] else 0
        index.append(slice(b, None if s == -1 else b + s))
    return x[tuple(index)]


def _blocks(op: Op, x: np.ndarray) -> tuple[int, int, int, int, int]:
    if x.ndim != 4:
        raise op.error(f"input must be rank 4 [N, C, H, W], got shape {x.shape}")
    return (*x.shape, op.int("block_size") if "block_size" in op else op.int("upscale_factor"))


def depth_to_space(op: Op) -> np.ndarray:
    n, c, h, w, b = _blocks(op, op["x"])
    # DCR order, as TensorFlow's depth_to_space: the block index is the outer part of C.
    y = op["x"].reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth(op: Op) -> np.ndarray:
    n, c, h, w, b = _blocks(op, op["x"])
    y = op["x"].reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


def pixel_shuffle(op: Op) -> np.ndarray:
    n, c, h, w, b = _blocks(op, op["x"])
    # CRD order, as torch.nn.PixelShuffle: the block index is the inner part of C.
    y = op["x"].reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (b * b), h * b, w * b)


def pixel_unshuffle(op: Op) -> np.ndarray:
    x = op["x"]
    b = op.int("downscale_factor")
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 1, 3, 5, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


def flatten2d(op: Op) -> np.ndarray:
    x = op["x"]
    axis = op.int("axis", 1) % (x.ndim + 1) if x.ndim else 0
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def reshape_like(op: Op) -> np.ndarray:
    declared = op.out_shapes[0] if op.out_shapes else None
    if declared is None:
        raise op.error("reshape_like with a symbolic output shape is not supported")
    return op["x"].reshape(declared)


OPS: dict[str, OpFn] = {
    "reshape": reshape,
    "reshape_like": reshape_like,
    "expand_dims": expand_dims,
    "squeeze": squeeze,
    "transpose": transpose,
    "reverse": reverse,
    "slice_by_index": slice_by_index,
    "slice_update": slice_update,
    "slice_by_size": slice_by_size,
    "depth_to_space": depth_to_space,
    "space_to_depth": space_to_depth,
    "pixel_shuffle": pixel_shuffle,
    "pixel_unshuffle": pixel_unshuffle,
    "flatten2d": flatten2d,
}
