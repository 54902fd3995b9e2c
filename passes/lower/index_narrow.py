"""Narrow a Gather's int64 indices to int32 where the target gathers int32 indices only (Core AI: its
gather's indices are an "Index type", si16/si32; si64 is rejected). It runs in every pipeline,
``-O none`` included, and fires only where the target refuses the Gather as it is.

    y = Gather(x, i, axis)   (i int64, computed at run time)
 -> y = Gather(x, Cast(i, int32), axis)

Exact for every valid index: ONNX's Gather takes an index in [-n, n), n the size of the gathered
axis, and the rule fires only where n is known and at most 2**31 - 1, so every valid index is an
int32. An index outside [-n, n) is an error before and after (onnxruntime's and Core AI's gathers
both refuse it at run time). Where the indices are the model's int64 input (token ids), the backend's
interface says the input is fed as int32 and which range it takes (``backends.coreai.inputs``).
"""

from __future__ import annotations

import numpy as np
import onnx

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet

INT32_MAX = int(np.iinfo(np.int32).max)


def gather(op, x, indices, axis):
    return op.Gather(x, indices, axis=axis)


def gather_int32(op, x, indices, axis):
    return op.Gather(x, _int32(op, indices), axis=axis)


def _int32(op, indices):
    narrow = op.Cast(indices, to=onnx.TensorProto.INT32)
    narrow.dtype, narrow.shape = (
        np.int32,
        indices.shape,
    )  # the builder types new tensors like the node's output
    return narrow


def int64_indices_of_known_rows(x, indices, axis):
    if indices.dtype is None or np.dtype(indices.dtype) != np.int64:
        return (
            f"the indices are {'of unknown type' if indices.dtype is None else np.dtype(indices.dtype).name}"
        )
    if ir.constant_value(indices) is not None:
        return "the indices are a constant (the backend narrows constants, checking their range)"
    shape = x.shape
    rows = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
    if not isinstance(rows, int):
        return f"the gathered axis of {x.name!r} has no known size, so no range is guaranteed"
    if rows > INT32_MAX:
        return f"the gathered axis has {rows} rows, more than int32 indices reach"
    return None


@register
class NarrowIndices(RuleSet):
    """Gather of int64 indices, where the target gathers int32 indices only -> gather(x, cast(i, int32))
    (exact: every valid index of an axis of at most 2**31 - 1 rows is an int32)."""

    id = "lower::index_narrow"
    # fmt: off
    rules = (
        Rule("gather_index_to_int32", gather, gather_int32, int64_indices_of_known_rows, "gather(x, i, a) -> gather(x, cast(i, int32), a)   (i int64; x.shape[a] < 2**31)", legalize=True),
    )
    # fmt: on
