"""Tensor construction and rearrangement: concat, split, stack, tile, pad, fill, range_1d, cumsum,
topk, argsort, shape, non_zero, one_hot, band_part, crop (iOS15/16 tensor_operation.py)."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn


def _many(value: object) -> tuple[np.ndarray, ...]:
    return (value,) if isinstance(value, np.ndarray) else tuple(value)  # type: ignore[arg-type]


def concat(op: Op) -> np.ndarray:
    """concat: "all dimensions except axis must be equal", axis in [-rank, rank); ``interleave``
    takes slice j of every input in turn (the reference's example)."""
    values = _many(op["values"])
    axis = op.axis("axis", values[0].ndim)
    if op.bool("interleave", False):
        # [a0, b0, a1, b1, ...] along axis: stack behind the axis, then merge the two.
        stacked = np.stack(values, axis=axis + 1)
        shape = list(values[0].shape)
        shape[axis] *= len(values)
        return stacked.reshape(shape)
    return np.concatenate(values, axis=axis)


def split(op: Op) -> tuple[np.ndarray, ...]:
    """split: "The sum of split_sizes must equal to value.shape[axis]"; without split_sizes,
    "value.shape[axis] must be divisible by num_splits, and the output sizes must be even"."""
    x = op["x"]
    axis = op.axis("axis", x.ndim)
    if op.get("split_sizes") is not None:
        sizes = op.ints("split_sizes")
        if sum(sizes) != x.shape[axis]:
            raise op.error(f"split_sizes {sizes} do not add up to dim {axis} of {x.shape}")
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))
    n = op.int("num_splits")
    if x.shape[axis] % n:
        raise op.error(f"num_splits {n} does not divide dim {axis} of {x.shape}")
    return tuple(np.split(x, n, axis=axis))


def stack(op: Op) -> np.ndarray:
    values = _many(op["values"])
    return np.stack(values, axis=op.int("axis") % (values[0].ndim + 1))


def tile(op: Op) -> np.ndarray:
    """tile: "Dimension i of x will be replicated reps[i] times"; reps has length rank(x)."""
    x, reps = op["x"], op.ints("reps")
    if len(reps) != x.ndim or min(reps, default=1) < 1:
        raise op.error(f"reps {reps} must be {x.ndim} positive counts for shape {x.shape}")
    return np.tile(x, reps)


def pad(op: Op) -> np.ndarray:
    """pad: "Last N dimensions of x are padded", pad[2i] before and pad[2i+1] after; "reflect"
    pads "can be at most D[i]-1", "replicate" pads "at most D[i]" (larger is an error here);
    reflect mirrors without repeating the border, replicate repeats it (numpy's reflect / edge)."""
    x = op["x"]
    pads = op.ints("pad")
    if len(pads) % 2 or len(pads) > 2 * x.ndim or min(pads, default=0) < 0:
        raise op.error(
            f"pad {pads} must hold non-negative (before, after) pairs for at most rank {x.ndim} dims"
        )
    # The pairs cover the last len(pad)/2 dims.
    widths = [(0, 0)] * (x.ndim - len(pads) // 2) + [(pads[i], pads[i + 1]) for i in range(0, len(pads), 2)]
    mode = op.str("mode", "constant")
    most = {"reflect": 1, "replicate": 0}.get(mode)
    if most is not None and any(max(w) > d - most for w, d in zip(widths, x.shape, strict=True)):
        raise op.error(f"{mode} pads {widths} reach past what the reference allows for shape {x.shape}")
    if mode == "constant":
        return np.pad(x, widths, constant_values=op.float("constant_val", 0.0))
    if mode == "reflect":
        return np.pad(x, widths, mode="reflect")
    if mode == "replicate":
        return np.pad(x, widths, mode="edge")
    raise op.error(f"mode {mode!r}: expected constant, reflect or replicate")


def fill(op: Op) -> np.ndarray:
    """fill: a tensor of ``shape`` ("shape[k] > 0") filled with ``value`` (default 0.0)."""
    return np.full(op.ints("shape"), op.get("value", 0.0))


def fill_like(op: Op) -> np.ndarray:
    return np.full(op["ref_tensor"].shape, op.get("value", 0.0))


def range_1d(op: Op) -> np.ndarray:
    """range_1d: "a numpy-like 1-D range sequence", ``end`` exclusive."""
    start, end, step = op["start"], op["end"], op["step"]
    return np.arange(start.item(), end.item(), step.item())


def cumsum(op: Op) -> np.ndarray:
    """cumsum along ``axis`` (default 0): inclusive ("the first element of the output is identical
    to the first element in the input") or exclusive ("makes the first element of output 0");
    ``reverse`` "perform cumsum in the reverse order"."""
    x = op["x"]
    axis = op.axis("axis", x.ndim, 0)
    reverse, exclusive = op.bool("reverse", False), op.bool("exclusive", False)
    y = np.flip(x, axis) if reverse else x
    y = np.cumsum(y, axis=axis, dtype=np.float32 if x.dtype == np.float16 else None)
    if exclusive:
        y = np.roll(y, 1, axis=axis)
        y[(slice(None),) * axis + (0,)] = 0
    return np.flip(y, axis) if reverse else y


def _order(x: np.ndarray, axis: int, ascending: bool) -> np.ndarray:
    # Stable, so equal values keep their input order (the first index wins, as on device).
    if ascending:
        return np.argsort(x, axis=axis, kind="stable")
    if x.dtype.kind == "b":
        x = x.astype(np.int8)
    return np.argsort(-x if x.dtype.kind != "u" else -x.astype(np.int64), axis=axis, kind="stable")


def topk(op: Op) -> tuple[np.ndarray, ...]:
    """topk: the k largest (``ascending`` False, default) or smallest values along ``axis`` (default
    -1) and their int32 indices; iOS16's ``sort`` (default True) sorts them, else "no particular
    ordering is guaranteed" (input order here); iOS17's k -1 is "all elements". Ties are not
    described: the first index wins here (a stable sort)."""
    x = op["x"]
    axis = op.axis("axis", x.ndim, -1)
    k = op.int("k", 1)
    if k < 0:
        k = x.shape[axis]
    order = _order(x, axis, op.bool("ascending", False))
    if not op.bool("sort", True):
        # Unsorted topk returns the k selected elements in input order.
        order = np.sort(np.take(order, np.arange(k), axis=axis), axis=axis)
    index = np.take(order, np.arange(k), axis=axis)
    values = np.take_along_axis(x, index, axis=axis)
    return (values, index) if op.bool("return_indices", True) else (values,)


def argsort(op: Op) -> np.ndarray:
    x = op["x"]
    return _order(x, op.axis("axis", x.ndim, -1), op.bool("ascending", False))


def one_hot(op: Op) -> np.ndarray:
    indices = op["indices"]
    depth = op.int("one_hot_vector_size")
    axis = op.int("axis", -1) % (indices.ndim + 1)
    on, off = op.get("on_value", 1), op.get("off_value", 0)
    hot = np.arange(depth).reshape((depth,) + (1,) * indices.ndim) == np.mod(indices, depth)[None]
    return np.moveaxis(np.where(hot, on, off), 0, axis)


def band_part(op: Op) -> np.ndarray:
    x = op["x"]
    lower, upper = op.int("lower", -1), op.int("upper", -1)
    m, n = x.shape[-2:]
    rows, cols = np.arange(m)[:, None], np.arange(n)[None, :]
    keep = ((lower < 0) | (rows - cols <= lower)) & ((upper < 0) | (cols - rows <= upper))
    return np.where(keep, x, np.zeros((), x.dtype))


def crop(op: Op) -> np.ndarray:
    x = op["x"]
    (top, bottom), (left, right) = op.ints("crop_height"), op.ints("crop_width")
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


OPS: dict[str, OpFn] = {
    "concat": concat,
    "split": split,
    "stack": stack,
    "tile": tile,
    "pad": pad,
    "fill": fill,
    "fill_like": fill_like,
    "range_1d": range_1d,
    "cumsum": cumsum,
    "topk": topk,
    "argsort": argsort,
    "shape": lambda op: np.asarray(op["x"].shape, np.int32),  # shape: "the shape of the input", int32
    "non_zero": lambda op: np.argwhere(op["x"]).astype(np.int32),
    "one_hot": one_hot,
    "band_part": band_part,
    "crop": crop,
}
