"""Legalise Gather where the target's gather cannot take it as it is. It runs in every pipeline,
``-O none`` included: each form stands for what an emitter would otherwise write by itself, so the
report names it.

- A scalar index where the target's gather keeps the indexed axis (a NeuralNetwork's gather takes a
  rank >= 1 index: blobs have no rank 0): gather a one-element index, then squeeze that axis. Exact.
- Bool data of Gather, GatherND or GatherElements where the target's gathers take none (MIL's gather: fp16, fp32, int32; Hugging Face's
  attention masks gather a bool mask): gather it as int32 and cast back. Exact: bool -> int32 -> bool
  is the identity, and a gather only moves values.
"""

from __future__ import annotations

import numpy as np
import onnx

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def gather(op, x, indices, axis):
    return op.Gather(x, indices, axis=axis)


def gather_squeeze(op, x, indices, axis):
    one = op.const(ir.constant_value(indices).reshape(1), np.int64)
    taken = op.Gather(x, one, axis=axis)
    if op.opset >= 13:  # Squeeze takes its axes as an input from opset 13
        return op.Squeeze(taken, op.const([axis], np.int64))
    return op.Squeeze(taken, axes=[axis])


def scalar_index(x, indices, axis):
    value = ir.constant_value(indices)
    if value is None:
        return "the index is computed at run time"
    return None if value.ndim == 0 else f"the index has rank {value.ndim}, not 0"


def gather_nd(op, x, indices, batch_dims):
    return op.GatherND(x, indices, batch_dims=batch_dims)


def gather_elements(op, x, indices, axis):
    return op.GatherElements(x, indices, axis=axis)


def _as_int32(op, x):
    ints = op.Cast(x, to=onnx.TensorProto.INT32)
    ints.dtype, ints.shape = np.int32, x.shape  # the builder types new tensors like the node's output
    return ints


def _as_bool(op, taken):
    taken.dtype = np.int32
    return op.Cast(taken, to=onnx.TensorProto.BOOL)


def bool_via_int32(op, x, indices, axis):
    return _as_bool(op, op.Gather(_as_int32(op, x), indices, axis=axis))


def bool_nd_via_int32(op, x, indices, batch_dims):
    return _as_bool(op, op.GatherND(_as_int32(op, x), indices, batch_dims=batch_dims))


def bool_elements_via_int32(op, x, indices, axis):
    return _as_bool(op, op.GatherElements(_as_int32(op, x), indices, axis=axis))


def bool_data(x):
    if x.dtype is None or np.dtype(x.dtype) != np.bool_:
        return f"the data is {'of unknown type' if x.dtype is None else np.dtype(x.dtype).name}, not bool"
    return None


@register
class LegalizeGather(RuleSet):
    """Gather of one scalar index, where the target keeps the axis -> squeeze(gather(x, [i]), axis);
    Gather, GatherND or GatherElements of bool data, where the target gathers no bool ->
    cast(gather(cast(x, int32)), bool)."""

    id = "lower::gather"
    # fmt: off
    rules = (
        Rule("gather_scalar_to_squeeze", gather, gather_squeeze, scalar_index, "gather(x, i, a) -> squeeze(gather(x, [i], a), a)   (i a scalar)", legalize=True),
        Rule("gather_bool_as_int32", gather, bool_via_int32, bool_data, "gather(x, i, a) -> cast(gather(cast(x, int32), i, a), bool)   (x bool)", legalize=True),
        Rule("gathernd_bool_as_int32", gather_nd, bool_nd_via_int32, bool_data, "gathernd(x, i) -> cast(gathernd(cast(x, int32), i), bool)   (x bool)", legalize=True),
        Rule("gather_elements_bool_as_int32", gather_elements, bool_elements_via_int32, bool_data, "gather_elements(x, i) -> cast(gather_elements(cast(x, int32), i), bool)   (x bool)", legalize=True),
    )
    # fmt: on
