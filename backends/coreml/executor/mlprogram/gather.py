"""gather / scatter family (iOS15-17 scatter_gather.py). Negative indices count from the end."""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn


def _indices(op: Op, size: int | None = None) -> np.ndarray:
    idx = np.asarray(op["indices"]).astype(np.int64)
    return idx if size is None else np.where(idx < 0, idx + size, idx)


def _no_negatives(op: Op) -> None:
    """From iOS17 (the op signature gaining ``validate_indices`` tells the opsets apart), gather and
    scatter "now support only positive values -- negative values are considered out-of-bound", whose
    behaviour is "undefined": an error here. iOS15/16 gather counts them from the back."""
    if "validate_indices" in op and np.any(np.asarray(op["indices"]) < 0):
        raise op.error("negative indices are out of bounds from iOS17 (undefined behaviour)")


def gather(op: Op) -> np.ndarray:
    """gather (tf.gather): output[p_0.., indices[i..], ..] = x[p_0.., indices[i..], ..], shape
    D[:axis] + N[batch_dims:] + D[axis+1:]; "Indices values may be negative", -D[axis] <= v < D[axis]
    (iOS15/16; see _no_negatives for iOS17)."""
    x = op["x"]
    axis = op.axis("axis", x.ndim, 0)
    batch_dims = op.int("batch_dims", 0)
    _no_negatives(op)
    idx = _indices(op, x.shape[axis])
    if np.any((idx < 0) | (idx >= x.shape[axis])):
        raise op.error(f"indices out of bounds for axis {axis} of shape {x.shape}")
    if batch_dims == 0:
        return np.take(x, idx, axis=axis)
    if batch_dims < 0:
        batch_dims += idx.ndim
    # Loop over the shared leading batch dims; each slice is an ordinary gather.
    lead = x.shape[:batch_dims]
    xs = x.reshape((-1,) + x.shape[batch_dims:])
    ids = idx.reshape((-1,) + idx.shape[batch_dims:])
    out = [np.take(xs[i], ids[i], axis=axis - batch_dims) for i in range(xs.shape[0])]
    return np.stack(out).reshape(lead + out[0].shape)


def gather_along_axis(op: Op) -> np.ndarray:
    x = op["x"]
    axis = op.axis("axis", x.ndim, 0)
    return np.take_along_axis(x, _indices(op, x.shape[axis]), axis=axis)


def gather_nd(op: Op) -> np.ndarray:
    x = op["x"]
    idx = np.asarray(op["indices"]).astype(np.int64)
    batch_dims = op.int("batch_dims", 0)
    depth = idx.shape[-1]
    lead = x.shape[:batch_dims]
    xs = x.reshape((-1,) + x.shape[batch_dims:])
    ids = idx.reshape((-1,) + idx.shape[batch_dims:])
    out = []
    for i in range(xs.shape[0]):
        sizes = np.asarray(xs.shape[1 : 1 + depth])
        flat = ids[i].reshape(-1, depth)
        flat = np.where(flat < 0, flat + sizes, flat)
        picked = xs[i][tuple(flat.T)]
        out.append(picked.reshape(ids[i].shape[:-1] + xs.shape[1 + depth :]))
    return np.stack(out).reshape(lead + out[0].shape)


_MODES = {
    "update": None,
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
    "min": np.minimum,
}


def _apply(op: Op, data: np.ndarray, where: tuple, updates: np.ndarray) -> np.ndarray:
    mode = op.str("mode", "add")
    if mode not in _MODES:
        raise op.error(f"mode {mode!r}: expected one of {sorted(_MODES)}")
    out = data.copy()
    fn = _MODES[mode]
    if fn is None:
        out[where] = updates
    else:
        fn.at(out, where, updates)
    return out


def scatter(op: Op) -> np.ndarray:
    data, updates = op["data"], op["updates"]
    axis = op.axis("axis", data.ndim, 0)
    idx = _indices(op, data.shape[axis]).reshape(-1)
    # updates has shape data.shape[:axis] + indices.shape + data.shape[axis+1:].
    upd = updates.reshape(data.shape[:axis] + (idx.size,) + data.shape[axis + 1 :])
    where = (slice(None),) * axis + (idx,)
    return _apply(op, data, where, upd)


def scatter_along_axis(op: Op) -> np.ndarray:
    data, updates = op["data"], op["updates"]
    axis = op.axis("axis", data.ndim, 0)
    idx = _indices(op, data.shape[axis])
    grids = list(np.indices(idx.shape, sparse=True))
    grids[axis] = idx
    return _apply(op, data, tuple(grids), updates)


def scatter_nd(op: Op) -> np.ndarray:
    """scatter_nd: indices[..., :] (the last axis, of length <= rank(data)) picks a slice of data;
    "mode == update": output[indices[i]] = updates[i], "add": output[indices[i]] += updates[i], and
    so sub/mul/div/max/min (default "add"); updates has shape indices.shape[:-1] +
    data.shape[indices.shape[-1]:]. Negative indices are not described before iOS17 (counted from the
    back here) and out of bounds from it (see _no_negatives). Repeated indices under "update" are not
    described: the last write wins here."""
    data, updates = op["data"], op["updates"]
    _no_negatives(op)
    idx = np.asarray(op["indices"]).astype(np.int64)
    depth = idx.shape[-1]
    flat = idx.reshape(-1, depth)
    flat = np.where(flat < 0, flat + np.asarray(data.shape[:depth]), flat)
    upd = updates.reshape((flat.shape[0],) + data.shape[depth:])
    return _apply(op, data, tuple(flat.T), upd)


OPS: dict[str, OpFn] = {
    "gather": gather,
    "gather_along_axis": gather_along_axis,
    "gather_nd": gather_nd,
    "scatter": scatter,
    "scatter_along_axis": scatter_along_axis,
    "scatter_nd": scatter_nd,
}
