"""Shape, data-movement and reduction ops: reshape, transpose, concat, expand_dims, shrink_dims,
split, slice, gather_nd, gather_along_axis, broadcast_to, broadcast_in_dims, tile, reverse,
get_shape, reduce_*, argmax, and the layout copies Apple's Metal-kernel helper puts around a
``metal4_kernel`` (``coreaix.copy_*``).

Each semantic is from the op's ODS docstring in ``coreai/_compiler/dialects/_coreai_ops_gen.py``
(quoted in the comments).
"""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreai.executor.elementwise import _wide
from bridgec.backends.coreai.executor.registry import OpCall, register


def _ints(value: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


@register("coreai.reshape")
def _reshape(call: OpCall) -> np.ndarray:
    # coreai.reshape: "Element order is preserved (C/row-major layout)"; "When signed, at most one
    # dimension may be -1"; "When unsigned, all dimensions must be strictly positive"
    x, shape = call.inputs
    dims = _ints(shape)
    if np.issubdtype(np.asarray(shape).dtype, np.unsignedinteger) and any(d <= 0 for d in dims):
        raise call.fail(f"an unsigned new_shape {dims} with a non-positive dimension")
    if dims.count(-1) > 1:
        raise call.fail(f"new_shape {dims} has more than one -1")
    return x.reshape(dims)


@register("coreai.transpose")
def _transpose(call: OpCall) -> np.ndarray:
    # coreai.transpose: "output.shape[i] = input.shape[permutation[i]]"
    return np.transpose(call.inputs[0], _ints(call.inputs[1]))


@register("coreai.concat")
def _concat(call: OpCall) -> np.ndarray:
    # coreai.concat(dimension, inputs...): "Concatenates ... along the dimension encoded by the scalar
    # 0-D index tensor $dimension"; "Negative values for $dimension are supported"
    dimension, *inputs = call.inputs
    if len(inputs) < 2:
        raise call.fail("fewer than two inputs (the op requires at least two)")
    return np.concatenate(inputs, axis=int(np.asarray(dimension).reshape(())))


@register("coreai.split")
def _split(call: OpCall) -> tuple[np.ndarray, ...]:
    # coreai.split: "Split-by-size ($split_size_or_sections is 0D): ... ceil(input.shape[dim] / s) chunks
    # along $dim. Each chunk has size s except the last"; "Split-by-sections (1D): Each element specifies
    # the size of the corresponding output tensor along $dim"; "a negative value d is interpreted as
    # d + rank(input)"
    x, sizes, dim = call.inputs
    axis = int(np.asarray(dim).reshape(())) % x.ndim
    sizes = np.asarray(sizes)
    n = x.shape[axis]
    if sizes.ndim == 0:
        step = int(sizes)
        if step < 1:
            raise call.fail(f"split size {step} (must be >= 1)")
        sections = [min(step, n - start) for start in range(0, n, step)]
    else:
        sections = _ints(sizes)
        if sum(sections) != n or min(sections, default=0) < 0:
            raise call.fail(f"sections {sections} do not add up to the axis' size {n}")
    return tuple(np.split(x, np.cumsum(sections)[:-1], axis=axis))


@register("coreai.expand_dims")
def _expand_dims(call: OpCall) -> np.ndarray:
    # coreai.expand_dims: "Each value in $axes specifies a position in the *output* shape";
    # "Negative axes are first normalized to positive indices by adding the output rank. The axes are
    # then sorted and processed in ascending order"
    x, axes = call.inputs
    axes = _ints(axes)
    rank = x.ndim + len(axes)
    return np.expand_dims(x, tuple(sorted(a % rank for a in axes)))


@register("coreai.shrink_dims")
def _shrink_dims(call: OpCall) -> np.ndarray:
    # coreai.shrink_dims: "Removes one or more dimensions with unit length"; "a < 0: removes dimension
    # rank($input) + a"; "Each referenced dimension must have size 1"
    x, axes = call.inputs
    axes = tuple(a % x.ndim for a in _ints(axes))
    if any(x.shape[a] != 1 for a in axes):
        raise call.fail(f"axes {list(axes)} of shape {list(x.shape)} are not all of size 1")
    return np.squeeze(x, axis=axes)


def _resolve(start: int, end: int, step: int, n: int) -> slice:
    # coreai.slice: "Wrap negative indices once: if a start or end value is strictly less than the
    # lower bound of its valid range, add N to it exactly once"; then "Clamp to valid range": for
    # s > 0 start and end to [0, N]; for s < 0 start to [0, N-1] and end to [-1, N-1]
    if step > 0:
        start, end = start + n if start < 0 else start, end + n if end < 0 else end
        start, end = min(max(start, 0), n), min(max(end, 0), n)
    else:
        start, end = start + n if start < 0 else start, end + n if end < -1 else end
        start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    # "the number of integers produced by range(resolved_start, resolved_end, s)": a Python range, in
    # which an end of -1 means "before index 0" (not numpy's "the last element")
    return slice(start, None if end < 0 else end, step)


@register("coreai.slice")
def _slice(call: OpCall) -> np.ndarray:
    x, starts, ends, strides = call.inputs
    starts, ends, strides = _ints(starts), _ints(ends), _ints(strides)
    if not len(starts) == len(ends) == len(strides) == x.ndim:
        raise call.fail(
            f"start/end/stride lengths {len(starts)}/{len(ends)}/{len(strides)} for rank {x.ndim}"
        )
    if 0 in strides:
        raise call.fail("a zero stride")
    index = tuple(_resolve(s, e, t, n) for s, e, t, n in zip(starts, ends, strides, x.shape, strict=True))
    return x[index]


def _wrap(indices: np.ndarray, sizes, call: OpCall) -> np.ndarray:
    # "Each raw index value must fall in [-s_i, s_i) ... Negative values are wrapped once by adding s_i"
    indices = np.asarray(indices).astype(np.int64)
    sizes = np.asarray(sizes, np.int64)
    if ((indices < -sizes) | (indices >= sizes)).any():
        raise call.fail("an index out of range (the op's contract: [-size, size))")
    return np.where(indices < 0, indices + sizes, indices)


@register("coreai.gather_nd")
def _gather_nd(call: OpCall) -> np.ndarray:
    # coreai.gather_nd: "output[i] = input[indices[i, 0], ..., indices[i, Q-1], :, ..., :]" with
    # "output.shape = indices.shape[:-1] + input.shape[Q:]"
    x, indices = call.inputs
    q = indices.shape[-1]
    if q > x.ndim:
        raise call.fail(f"index vectors of length {q} for a rank-{x.ndim} input")
    indices = _wrap(indices, x.shape[:q], call)
    return x[tuple(indices[..., k] for k in range(q))]


@register("coreai.gather_along_axis")
def _gather_along_axis(call: OpCall) -> np.ndarray:
    # coreai.gather_along_axis: "output[i_0, ..., i_axis, ..., i_{R-1}] = input[i_0, ...,
    # indices[i_0, ..., i_{R-1}], ..., i_{R-1}]" (numpy's take_along_axis)
    x, indices, axis = call.inputs
    axis = int(np.asarray(axis).reshape(())) % x.ndim
    return np.take_along_axis(x, _wrap(indices, x.shape[axis], call), axis=axis)


@register("coreai.broadcast_to")
def _broadcast_to(call: OpCall) -> np.ndarray:
    # coreai.broadcast_to: "Broadcasting follows NumPy rules: dimensions are aligned from the right"
    return np.broadcast_to(call.inputs[0], _ints(call.inputs[1])).copy()


@register("coreai.broadcast_in_dims")
def _broadcast_in_dims(call: OpCall) -> np.ndarray:
    # coreai.broadcast_in_dims(input, dim_sizes, axes) (the ODS operand order): "this op does not
    # perform rank broadcast";
    # "Each axis listed in axes must have size 1 in the input; the output has the same shape as the
    # input except those axes are replaced by the corresponding dim_sizes values"; negative axes wrap
    x, sizes, axes = call.inputs
    shape = list(x.shape)
    for axis, size in zip(_ints(axes), _ints(sizes), strict=True):
        if shape[axis % x.ndim] != 1:
            raise call.fail(f"axis {axis} of shape {list(x.shape)} is not of size 1")
        shape[axis % x.ndim] = size
    return np.broadcast_to(x, shape).copy()


@register("coreai.tile")
def _tile(call: OpCall) -> np.ndarray:
    # coreai.tile: "output.shape[i] = input.shape[i] * dims[i]"; "If len($dims) < rank($input), the
    # repetition counts apply to the *innermost* dimensions" (numpy's tile pads dims on the left)
    return np.tile(call.inputs[0], _ints(call.inputs[1]))


@register("coreai.reverse")
def _reverse(call: OpCall) -> np.ndarray:
    # coreai.reverse: "result[..., i_d, ...] = input[..., shape[d] - 1 - i_d, ...]" for every axis d in
    # $dims; "axis -k is equivalent to rank($input) - k"
    x, dims = call.inputs
    return np.flip(x, axis=tuple(a % x.ndim for a in _ints(dims))) if dims.size else x


@register("coreai.get_shape")
def _get_shape(call: OpCall) -> np.ndarray:
    return np.asarray(call.inputs[0].shape, call.results[0][1])


def _reducer(fn, floats_only: bool = False):
    # coreai.reduce_{sum,mean,max,min,product}: "Reduces $input along the dimensions listed in $axes
    # ... Reduced dimensions are always kept in the output"; entries "in [-rank($input), rank($input))"
    def reduce(call: OpCall) -> np.ndarray:
        x, axes = call.inputs
        if floats_only and not np.issubdtype(x.dtype, np.floating):
            raise call.fail(f"a {x.dtype} input (the op is restricted to floating-point element types)")
        axes = tuple(sorted({a % x.ndim for a in _ints(axes)}))
        return fn(_wide(x), axis=axes, keepdims=True)

    return reduce


register("coreai.reduce_sum")(_reducer(np.sum))
register("coreai.reduce_mean")(_reducer(np.mean, floats_only=True))  # "sum(slice) / count(slice)"
register("coreai.reduce_max")(_reducer(np.max))
register("coreai.reduce_min")(_reducer(np.min))
register("coreai.reduce_product")(_reducer(np.prod))


@register("coreai.argmax")
def _argmax(call: OpCall) -> np.ndarray:
    # coreai.argmax: "In case of ties, the smallest index is returned"; "The reduced dimension is
    # retained with size 1"
    x, axis = call.inputs
    return np.argmax(x, axis=int(np.asarray(axis).reshape(())), keepdims=True)


# coreaix.copy_with_constraints / copy_discarding_constraints (``_coreaix_ops_gen.py``): "a copy from
# standard densely-packed layout into a hardware-conforming layout" and back; "no dtype or rank
# transformation is performed — the element type and shape are preserved; only the memory layout
# changes" (numpy has one layout: the values pass through)
for _name in ("coreaix.copy_with_constraints", "coreaix.copy_discarding_constraints"):
    register(_name)(lambda call: call.inputs[0])
