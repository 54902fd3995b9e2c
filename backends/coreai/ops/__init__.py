"""The Core AI op table: ONNX op -> ``coreai.*`` ops, split by op family (one module each).

Same shape as the Core ML tables: each family module exports ``emitters``; an entry names the
Core AI ops it writes and a ``check`` whose docstring's "Restrictions:" line the coverage reports
print. ``CoreAICapabilities`` answers from this table, so the passes lower exactly what it lacks.
Emitters translate one op (or a fixed 1:1 pattern such as MaxPool's ``pad(-inf)`` before
``max_pool_2d``); a decomposition is a named rule in ``passes/lower/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends._table import EmitterInfo, EmitterTable
from bridgec.core import ir

if TYPE_CHECKING:
    from bridgec.backends.coreai.builder import CoreAIContext
    from bridgec.backends.coreai.targets import Target

Check = Callable[[gs.Node, "Target"], "str | None"]


@dataclass(frozen=True)
class CoreAIEmitter(EmitterInfo):
    op: str
    emit: Callable[[CoreAIContext, gs.Node], None]
    check: Check | None = None  # attribute/input restrictions: returns why not, or None
    domain: str = ""
    coreai_ops: tuple[str, ...] = ()  # the coreai ops written, for reports

    @property
    def emits(self) -> str:
        return ", ".join(f"coreai.{op}" for op in self.coreai_ops) or "no Core AI op (the value is passed on)"

    @property
    def min_spec_version(self) -> int:
        return 0  # every Core AI target (iOS27 / macOS27) has the whole op set


FAMILIES = (
    "activations",
    "cast",
    "conv",
    "custom",
    "elementwise",
    "gather",
    "linear",
    "logic",
    "math",
    "pooling",
    "reduce",
    "shape",
    "text",
)
TABLE: EmitterTable[CoreAIEmitter] = EmitterTable(__name__, FAMILIES)


def table() -> dict[ir.OpKey, CoreAIEmitter]:
    return TABLE.get()


# Helpers the family modules share.

# Core AI takes every parameter as a typed tensor operand: ui32 for conv/pool/pad/transpose
# parameters, si32 ("Index type") for axes, slice bounds and gather indices.


def u32(values) -> np.ndarray:
    return np.asarray(values, np.uint32)


def i32(values) -> np.ndarray:
    return np.asarray(values, np.int32)


def static_shape(tensor: gs.Tensor) -> tuple[int, ...] | None:
    """The tensor's shape when every dimension is a known integer, else None."""
    shape = tensor.shape
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    return tuple(shape)


def value_shape(ctx, tensor: gs.Tensor) -> tuple[int, ...] | None:
    """The shape of a tensor as the emitted program has it: a constant's, the graph's static one, or
    (a rule's new tensor, which shape inference has not reached) the Core AI value's own."""
    value = ctx.const(tensor)
    if value is not None:
        return tuple(value.shape)
    return static_shape(tensor) or tuple(ctx.value(tensor).type.shape)


def same_shape_or_broadcasting(ctx, coreai_op: str, operands: list[gs.Tensor]):
    """``coreai_op`` when every operand has one non-scalar shape, else its ``broadcasting_*`` form: Core
    AI's elementwise ops take identical shapes only, and their broadcasting forms numpy's rules, which are
    ONNX's (a 0-D operand needs the broadcasting form). A facade name ending in "_" (``pow_``,
    ``and_``: Python keywords and builtins) names the op without it."""
    shapes = [value_shape(ctx, t) for t in operands]
    exact = shapes[0] is not None and len(shapes[0]) > 0 and all(s == shapes[0] for s in shapes)
    name = coreai_op if exact else f"broadcasting_{coreai_op.rstrip('_')}"
    return ctx.call(name, *(ctx.value(t) for t in operands))


def needs_static(node: gs.Node, what: str) -> str | None:
    """A restriction shared by several checks: the node's tensors have static shapes."""
    for tensor in [*node.inputs, *node.outputs]:
        if not ir.is_empty(tensor) and static_shape(tensor) is None:
            return f"{what} needs static shapes ({tensor.name!r} is {tensor.shape})"
    return None


def float_only(node: gs.Node) -> str | None:
    """Restriction: float32 input (the first one)."""
    dtype = node.inputs[0].dtype
    if dtype is not None and np.dtype(dtype) != np.float32:
        return f"input {node.inputs[0].name!r} is {np.dtype(dtype)}; this slice of the Core AI backend emits float32 only"
    return None


def unary(coreai_op: str) -> Callable[[CoreAIContext, gs.Node], None]:
    """An emitter for a one-input ONNX op that is one Core AI op."""

    def emit(ctx: CoreAIContext, node: gs.Node) -> None:
        ctx.set(node.outputs[0], ctx.call(coreai_op, ctx.value(node.inputs[0])))

    return emit
