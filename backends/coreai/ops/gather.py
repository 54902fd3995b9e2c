"""Gather and GatherND: ``coreai.gather_nd`` of the indices with a trailing axis of one.

``coreai.gather_nd`` (``_coreai_ops_gen.py``, GatherNdOp) takes the leading ``indices.shape[-1]``
axes of ``x`` from each index tuple and keeps the rest, so ``indices[..., None]`` gathers along
axis 0 exactly as ONNX's Gather does (output shape ``indices.shape + x.shape[1:]``, a scalar index
included); another axis is moved to the front and back with ``transpose``. Negative indices wrap, as
in ONNX; an index out of range is a runtime error in Apple's interpreter (``KernelError … out of
range``), never a wrong value. The indices are an "Index type" (si16/si32): si64 is rejected, so an
int64 index is narrowed first by the named rule ``lower::index_narrow``.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, i32, u32
from bridgec.core import ir

_INDEX = {np.dtype(np.int32), np.dtype(np.int16)}


def _check(node: gs.Node, target) -> str | None:
    """Restrictions: int32 (or int16) indices, or constant ones (lower::index_narrow narrows int64 ones); a known rank."""
    x, indices = node.inputs
    constant = ir.constant_value(indices) is not None  # the builder narrows a constant, checking its range
    if not constant and indices.dtype is not None and np.dtype(indices.dtype) not in _INDEX:
        return (
            f"indices {indices.name!r} are {np.dtype(indices.dtype)}; Core AI's gather_nd takes int32 "
            "indices (lower::index_narrow narrows int64)"
        )
    if x.shape is None or indices.shape is None:
        return f"an unknown rank ({x.name!r} is {x.shape}, {indices.name!r} is {indices.shape})"
    return None


def _gather(ctx, node: gs.Node) -> None:
    x, indices = node.inputs
    rank, scalar = len(x.shape), len(indices.shape) == 0
    depth = max(len(indices.shape), 1)  # a scalar index is gathered as [i], its axis dropped at the end
    axis = int(node.attrs.get("axis", 0)) % rank
    data = ctx.value(x)
    if axis:
        to_front = [axis, *[d for d in range(rank) if d != axis]]
        data = ctx.call("transpose", data, u32(to_front))
    index = ctx.value(indices)
    if isinstance(index, np.ndarray):
        index = index.astype(np.int32).reshape(*indices.shape, 1) if not scalar else index.reshape(1, 1)
    else:
        index = ctx.call("expand_dims", index, i32([depth] if not scalar else [0, 1]))
    taken = ctx.call("gather_nd", data, index)  # shape: the index axes, then x's axes but `axis`
    if axis:
        # put the index axes back at `axis`
        back = [*range(depth, depth + axis), *range(depth), *range(depth + axis, depth + rank - 1)]
        taken = ctx.call("transpose", taken, u32(back))
    if scalar:
        taken = ctx.call("shrink_dims", taken, i32([axis]))
    ctx.set(node.outputs[0], taken)


def _gather_nd_check(node: gs.Node, target) -> str | None:
    """Restrictions: batch_dims 0; a static last index axis. ONNX's GatherND indices are int64 only;
    the builder holds them as si32 (``backends.coreai.inputs``), valid for tables below 2**31 rows."""
    if int(node.attrs.get("batch_dims", 0)):
        return f"batch_dims {node.attrs['batch_dims']}; coreai.gather_nd has none"
    x, indices = node.inputs
    if not indices.shape or not isinstance(indices.shape[-1], int) or x.shape is None:
        return f"indices {indices.name!r} have shape {indices.shape}; the last axis must be static"
    if any(not isinstance(d, int) or d > np.iinfo(np.int32).max for d in x.shape[: indices.shape[-1]]):
        return f"the indexed axes of {x.name!r} ({x.shape}) are not all known and below 2**31"
    return None


def _gather_nd(ctx, node: gs.Node) -> None:
    # ONNX's GatherND with batch_dims 0 is GatherNdOp: output = indices.shape[:-1] + x.shape[Q:]
    index = ctx.value(node.inputs[1])
    if isinstance(index, np.ndarray):
        index = index.astype(np.int32)
    ctx.set(node.outputs[0], ctx.call("gather_nd", ctx.value(node.inputs[0]), index))


emitters = [
    CoreAIEmitter("Gather", _gather, _check, coreai_ops=("gather_nd", "expand_dims", "transpose")),
    CoreAIEmitter("GatherND", _gather_nd, _gather_nd_check, coreai_ops=("gather_nd",)),
]
