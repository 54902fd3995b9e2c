"""The ML Program op table: ONNX op -> coremltools MIL builder calls, split by op family.

Same shape as ``backends/coreml/neuralnetwork_layers`` (the NeuralNetwork table): each entry says which MIL ops it
emits, the first iOS release whose MIL opset has them (``min_ios``), and a ``check`` returning why
a node cannot be emitted. The capability table consults it when the target's format is
``mlprogram``, so the passes lower exactly what this table lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends._table import Check, EmitterInfo, EmitterTable
from bridgec.backends.coreml.targets import spec_version_of_ios
from bridgec.core import ir

if TYPE_CHECKING:
    from bridgec.backends.coreml.mlprogram import MilContext


@dataclass(frozen=True)
class MilEmitter(EmitterInfo):
    op: str
    emit: Callable[[MilContext, gs.Node], None]
    check: Check | None = None  # attribute/input restrictions: returns why not, or None
    min_ios: int = 15  # first iOS release whose MIL opset has the op(s) used
    domain: str = ""
    mil_ops: tuple[str, ...] = ()  # the MIL op kinds emitted, for reports

    @property
    def emits(self) -> str:
        return ", ".join(self.mil_ops) or "no MIL op (the value is passed on)"

    @property
    def min_spec_version(self) -> int:
        return spec_version_of_ios(self.min_ios)


FAMILIES = (
    "activations",
    "attention",
    "conv",
    "elementwise",
    "linear",
    "logic",
    "normalization",
    "pooling",
    "reduce",
    "resize",
    "shape",
    "tensor",
)
TABLE: EmitterTable[MilEmitter] = EmitterTable(__name__, FAMILIES)


def table() -> dict[ir.OpKey, MilEmitter]:
    return TABLE.get()


def lookup(node: gs.Node) -> MilEmitter | None:
    """The emitter for ``node``; None for custom-layer nodes, which an ML Program cannot hold."""
    return table().get(ir.op_key(node))


# Helpers the family modules share.


def unary(mil_op: str, **params) -> Callable[[MilContext, gs.Node], None]:
    """An emitter for a one-input ONNX op that is one MIL op (fixed parameters given here)."""

    def emit(ctx: MilContext, node: gs.Node) -> None:
        op = getattr(ctx.mb, mil_op)
        ctx.set(node.outputs[0], op(x=ctx.value(node.inputs[0]), name=ctx.name(node.outputs[0]), **params))

    return emit


def attr_float(node: gs.Node, name: str, default: float) -> float:
    return float(node.attrs.get(name, default))


def attr_str(node: gs.Node, name: str, default: str) -> str:
    value = node.attrs.get(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def constant_inputs(node: gs.Node, indices: tuple[int, ...], what: str) -> str | None:
    """A restriction shared by many checks: inputs at ``indices`` (where present) are known when the
    program is built (see ``known_at_build``)."""
    for index in indices:
        present = index < len(node.inputs) and not ir.is_empty(node.inputs[index])
        if present and not known_at_build(node.inputs[index]):
            return f"{what} (input {index}, {node.inputs[index].name!r}) must be a constant"
    return None


# Ops that compute a value known while building when all their inputs are (shape arithmetic).
_FOLDABLE = frozenset(
    [
        "Abs",
        "Add",
        "Cast",
        "Ceil",
        "Concat",
        "ConstantOfShape",
        "Div",
        "Equal",
        "Expand",
        "Floor",
        "Gather",
        "Greater",
        "Identity",
        "Less",
        "Max",
        "Min",
        "Mod",
        "Mul",
        "Neg",
        "Not",
        "Range",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceSum",
        "Reshape",
        "Slice",
        "Squeeze",
        "Sub",
        "Tile",
        "Transpose",
        "Unsqueeze",
        "Where",
    ]
)


def known_at_build(tensor: gs.Tensor) -> bool:
    """Is the value known when the ML Program is built? A constant, or shape arithmetic: an ML
    Program's inputs have static shapes, so Shape of any tensor folds, and pure ops of folded values
    fold too (``MilContext.const`` gives the value). The ONNX IR may not know those shapes."""
    pending, seen = [tensor], set()
    while pending:
        current = pending.pop()
        if current.name in seen or ir.constant_value(current) is not None:
            continue
        seen.add(current.name)
        producer = current.inputs[0] if len(current.inputs) == 1 else None
        if producer is None:
            return False  # a graph input
        if producer.op in ("Shape", "Size"):
            continue
        if ir.op_key(producer)[0] != "" or producer.op not in _FOLDABLE:
            return False
        pending.extend(t for t in producer.inputs if not ir.is_empty(t))
    return True


def static_rank(node: gs.Node, index: int = 0) -> int | None:
    shape = node.inputs[index].shape if index < len(node.inputs) else None
    return None if shape is None else len(shape)


def static_shape(tensor: gs.Tensor) -> tuple[int, ...] | None:
    shape = tensor.shape
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return None
    return tuple(shape)


def operands(ctx: MilContext, tensors: list[gs.Tensor]) -> list:
    """``tensors`` (omitted ones skipped) as MIL values, constants in the dtype of the variable operands (MIL does
    not promote: fp32 x with an int exponent is a type error)."""
    values = [ctx.value(t) for t in tensors if not ir.is_empty(t)]
    dtypes = [v.dtype for v in values if hasattr(v, "op")]  # MIL Vars; numpy arrays have no .op
    if not dtypes:
        return values
    from coremltools.converters.mil.mil import types

    want = types.nptype_from_builtin(dtypes[0])
    # copy=False: a constant of the right dtype already (a weight) is handed over as it is
    return [v if hasattr(v, "op") else np.asarray(v).astype(want, copy=False) for v in values]


def int_list(node: gs.Node, index: int, attr: str, const: Callable = ir.constant_value) -> list[int] | None:
    """An int list given as attribute ``attr`` (older opsets) or input ``index`` whose value
    ``const`` knows (emitters pass ``ctx.const``)."""
    if attr in node.attrs:
        return [int(a) for a in node.attrs[attr]]
    if index < len(node.inputs) and not ir.is_empty(node.inputs[index]):
        value = const(node.inputs[index])
        return None if value is None else [int(a) for a in value.reshape(-1)]
    return None
