"""The op table: ONNX op -> Core ML NeuralNetwork emitter, split by op family.

The same table answers "does the target support this node?" (``Emitter.check`` and
``min_spec``), so the passes and the backend cannot disagree about what is native.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import onnx_graphsurgeon as gs

from bridgec import ir

if TYPE_CHECKING:
    from bridgec.backends.coreml.neuralnetwork import EmitContext
    from bridgec.backends.coreml.targets import Target

Check = Callable[[gs.Node, "Target"], "str | None"]


@dataclass(frozen=True)
class Emitter:
    op: str
    emit: Callable[[EmitContext, gs.Node], None]
    check: Check | None = None  # attribute/input restrictions: returns why not, or None
    min_spec: int = 4  # first NeuralNetwork specification version with the layer(s) used
    domain: str = ""
    layer: str = ""  # the Core ML layer kind(s) emitted, for reports

    @property
    def key(self) -> ir.OpKey:
        return (self.domain, self.op)

    @property
    def restrictions(self) -> str:
        """What the capability check requires, for coverage reports: its docstring's "Restrictions:" line."""
        doc = (self.check.__doc__ or "") if self.check else ""
        return doc.strip().removeprefix("Restrictions:").strip().rstrip(".")


def _collect() -> dict[ir.OpKey, Emitter]:
    from bridgec.backends.coreml.ops import (
        activations,
        conv,
        custom,
        elementwise,
        linear,
        pooling,
        resize,
        shape,
        tensor,
    )

    table: dict[ir.OpKey, Emitter] = {}
    for family in (activations, conv, custom, elementwise, linear, pooling, resize, shape, tensor):
        for emitter in family.emitters:
            if emitter.key in table:
                raise ValueError(f"two emitters for {emitter.key}")
            table[emitter.key] = emitter
    return table


_TABLE: dict[ir.OpKey, Emitter] | None = None


def table() -> dict[ir.OpKey, Emitter]:
    global _TABLE
    if _TABLE is None:
        _TABLE = _collect()
    return _TABLE


def lookup(node: gs.Node) -> Emitter | None:
    domain, op = ir.op_key(node)
    if domain == ir.CUSTOM_DOMAIN:
        op = "*"
    return table().get((domain, op))
