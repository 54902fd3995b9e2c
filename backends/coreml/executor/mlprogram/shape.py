"""Layout ops: reshape, expand_dims, squeeze, transpose, slicing, reverse, depth/space moves
(iOS15/16 tensor_transformation.py, flatten2d from tensor_operation.py)."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn


def reshape(op: Op) -> np.ndarray:
    """reshape: "the same values as x with shape shape" (row-major), "-1" inferred. A 0 copies the
    axis of x: iOS15 "If K == rank(x)" (else illegal); iOS17 aligns shape and x.shape to the right
    and makes an unmatched 0 a 1. The two agree when K == rank(x), and the executor cannot tell the
    opsets apart, so another 0 is an error here (bridgec's Reshape emitter writes none)."""
    x = op["x"]
    shape = op.ints("shape")
    if 0 in shape:
        if len(shape) != x.ndim:
            raise op.error(f"a 0 in shape {shape} for rank {x.ndim}: iOS15 and iOS17 read it differently")
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    y = x.reshape(shape)
    declared = op.out_shapes[0] if op.out_shapes else None
    if declared is not None and y.shape != tuple(declared):
        raise op.error(f"shape {shape} gives {y.shape}, the program declares {tuple(declared)}")
    return y


def expand_dims(op: Op) -> np.ndarray:
    """expand_dims: "Insert a single-dimension ... at each axis in axes", negative "to index from
    the end", result rank rank(x) + K. Where several axes land is not spelled out: read as their
    positions in the output (numpy's expand_dims), which is what sorted non-negative axes mean in
    any reading (bridgec's Unsqueeze emitter writes those)."""
    x = op["x"]
    axes = op.ints("axes")
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return x


def squeeze(op: Op) -> np.ndarray:
    """squeeze: removes the single dimensions in ``axes`` (default: all of them); "squeezing
    non-single dimensions follow PyTorch instead of NumPy, where it ignores non-single dimensions
    instead of erroring out" (iOS15; iOS17 differs only in dtypes)."""
    x = op["x"]
    if op.get("axes") is None:
        return np.squeeze(x)
    axes = tuple(a % x.ndim for a in op.ints("axes") if x.shape[a % x.ndim] == 1)
    return np.squeeze(x, axis=axes)


def transpose(op: Op) -> np.ndarray:
    """transpose: "Permute tensor x dimensions according to perm", -rank(x) <= perm[i] < rank(x)."""
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
    """slice_by_index: "numpy style indexing and slicing ... result = x[begin[0]: end[0]: stride[0],
    ...]" (numpy's negative indices and clamping); begin_mask "set begin[i] to 0", end_mask "set
    end[i] to x.shape[i]", squeeze_mask "the pure index at begin[i]". For a negative stride that
    mask wording would give an empty slice; the reference does not settle it, and coremltools' type
    inference (whose output shape the program declares, and the runner checks) reads the masks as
    TensorFlow's strided slice does: the whole axis towards the front, numpy's None (bridgec's Slice
    emitter masks the end of a negative step through index 0: coremltools wraps a negative end once
    and clamps it to [0, dim], so no end value can say "before index 0")."""
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
    """depth_to_space: [n, C, H, W] -> [n, C / b^2, H b, W b]. The reference does not say how the
    channels are ordered; it is TensorFlow's depth_to_space (DCR: the block index is the outer
    part of C), which Core ML's DEPTH_TO_SPACE layer documents, and pixel_shuffle is the documented
    other (CRD, torch's PixelShuffle). Tested against tf.nn.depth_to_space's formula."""
    n, c, h, w, b = _blocks(op, op["x"])
    y = op["x"].reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth(op: Op) -> np.ndarray:
    """space_to_depth: [n, C, H, W] -> [n, C b^2, H / b, W / b], the inverse of depth_to_space
    (DCR; the reference does not give the order either: see depth_to_space)."""
    n, c, h, w, b = _blocks(op, op["x"])
    y = op["x"].reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


def pixel_shuffle(op: Op) -> np.ndarray:
    """pixel_shuffle: "Equivalent to PyTorch's PixelShuffle" (CRD: the block index is the inner
    part of C)."""
    n, c, h, w, b = _blocks(op, op["x"])
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
