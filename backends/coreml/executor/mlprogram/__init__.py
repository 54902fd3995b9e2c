"""numpy reference executor for Core ML ML Program (``.mlpackage``) models.

Walks the ``main`` function's block op by op, with one module per op family registering into
``OPS``. Semantics follow coremltools' MIL op definitions (``mil/ops/defs/iOS15..iOS18``). Every
result is rounded to the dtype the program declares for it, so an fp16 program shows fp16's real
error; an op with no implementation is an ``UnsupportedLayerError``, never a pass-through.

Not implemented (refused with that error): control flow (cond, while_loop), recurrent ops (lstm,
gru, rnn), crop_resize, resample, affine, iOS17 resize, sliding_windows, space_to_batch /
batch_to_space, reverse_sequence, non_maximum_suppression and the iOS18 grouped-LUT / sparse-LUT compression
ops. State (``read_state``, ``write_state``) runs on the caller's ``state`` dict, as an app's
``MLState`` (``mlprogram.state``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.mlprogram import (
    activations,
    classify,
    constexpr,
    conv,
    elementwise,
    gather,
    linear,
    normalization,
    pooling,
    reductions,
    resize,
    shape,
    state,
    tensor_ops,
)
from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn
from bridgec.backends.coreml.executor.mlprogram.blob import BlobFile, BlobFormatError
from bridgec.backends.coreml.executor.mlprogram.program import execute, resolve_model
from bridgec.backends.coreml.executor.model_io import read_mlpackage
from bridgec.core.words import noun


def _registry(*families: Mapping[str, OpFn]) -> dict[str, OpFn]:
    ops: dict[str, OpFn] = {}
    for family in families:
        clash = sorted(set(ops) & set(family))
        if clash:
            raise RuntimeError(
                f"ML Program {noun(clash, 'op')} {clash} {noun(clash, 'is', 'are')} implemented by two op families"
            )
        ops.update(family)
    return ops


OPS: dict[str, OpFn] = _registry(
    elementwise.OPS,
    activations.OPS,
    conv.OPS,
    pooling.OPS,
    normalization.OPS,
    linear.OPS,
    reductions.OPS,
    shape.OPS,
    tensor_ops.OPS,
    gather.OPS,
    resize.OPS,
    constexpr.OPS,
    classify.OPS,
    state.OPS,
)


def run_mlprogram(
    model: Any,
    inputs: Mapping[str, np.ndarray],
    intermediates: bool = False,
    state: state.State | None = None,
) -> dict[str, np.ndarray]:
    """Execute an ML Program model with numpy.

    ``model`` is a saved ``.mlpackage`` path, a coremltools ``MLModel``, or a ``(spec, weights_dir)``
    pair. ``inputs`` are checked against the model description (names, shapes). Returns the model
    outputs by name in the interface dtype (float32 for float outputs); with ``intermediates=True``
    also every non-const op output, keyed by MIL variable name, in the program's own dtype.

    A stateful model (iOS18) needs ``state``, what an app's ``MLState`` holds: state name -> array,
    from ``new_state(model)`` (zeros, as ``MLModel.makeState()``) or set by the caller as an app sets
    it through ``withMultiArray(for:)``. The call reads and writes it in place, so passing the same
    dict to the next call continues from there.
    """
    return execute(model, inputs, OPS, intermediates, state)


def new_state(model: Any) -> dict[str, np.ndarray]:
    """A fresh state for a stateful ML Program (every buffer zeros, as ``MLModel.makeState()``)."""
    return state.new_state(resolve_model(model)[0])


__all__ = [
    "OPS",
    "BlobFile",
    "BlobFormatError",
    "Op",
    "OpFn",
    "read_mlpackage",
    "new_state",
    "resolve_model",
    "run_mlprogram",
]
