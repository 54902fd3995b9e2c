"""The op table: ONNX op -> Core ML NeuralNetwork emitter, split by op family.

The same table answers "does the target support this node?" (``Emitter.check`` and
``min_spec``), so the passes and the backend cannot disagree about what is native.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import onnx_graphsurgeon as gs

from bridgec.backends._table import Check, EmitterInfo, EmitterTable
from bridgec.core import ir

if TYPE_CHECKING:
    from bridgec.backends.coreml.neuralnetwork import EmitContext


@dataclass(frozen=True)
class Emitter(EmitterInfo):
    op: str
    emit: Callable[[EmitContext, gs.Node], None]
    check: Check | None = None  # attribute/input restrictions: returns why not, or None
    min_spec: int = 4  # first NeuralNetwork specification version with the layer(s) used
    domain: str = ""
    layer: str = ""  # the Core ML layer kind(s) emitted, for reports

    @property
    def emits(self) -> str:
        return self.layer

    @property
    def min_spec_version(self) -> int:
        return self.min_spec


FAMILIES = (
    "activations",
    "conv",
    "custom",
    "elementwise",
    "generate",
    "layout",
    "linear",
    "logic",
    "math",
    "pooling",
    "reduce",
    "resize",
    "shape",
    "tensor",
)
TABLE: EmitterTable[Emitter] = EmitterTable(__name__, FAMILIES)


def table() -> dict[ir.OpKey, Emitter]:
    return TABLE.get()


def lookup(node: gs.Node) -> Emitter | None:
    domain, op = ir.op_key(node)
    if domain == ir.CUSTOM_DOMAIN:
        op = "*"
    return table().get((domain, op))
