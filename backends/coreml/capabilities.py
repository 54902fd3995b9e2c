"""Capabilities of a Core ML target, answered from the op tables (the single source of truth).

Each format has its own table: ``ops`` (NeuralNetwork layers) and ``mil`` (ML Program MIL ops).
The passes ask the table of the format being emitted, so they lower exactly what it lacks.
"""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.backends.coreml.targets import Target, ios_name


class CoreMLCapabilities:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.description = target.description

    @property
    def custom_layers(self) -> bool:
        """Can the format carry custom layers? (Only NeuralNetwork models can.)"""
        return self.target.format == "neuralnetwork"

    def unsupported_reason(self, node: gs.Node) -> str | None:
        domain = ir.op_key(node)[0]
        if domain == ir.CUSTOM_DOMAIN and not self.custom_layers:
            return "an ML Program cannot hold custom layers"
        emitter, first = self._lookup(node)
        if emitter is None:
            if domain == ir.BRIDGEC_DOMAIN:
                return "no Core ML layer computes it"
            return "no Core ML layer for this op" if self.custom_layers else "no MIL op for this op"
        if node.op in self.target.avoid_ops and domain != ir.CUSTOM_DOMAIN:  # a custom layer is not the op
            return "avoided with --avoid-op"
        if first > self.target.spec_version:
            return f"needs {ios_name(first)} or newer"
        if emitter.check is not None:
            return emitter.check(node, self.target)
        return None

    def _lookup(self, node: gs.Node):
        """The emitter for ``node`` in this format's table and the first spec version that has it."""
        if self.target.format == "mlprogram":
            from bridgec.backends.coreml import mil

            emitter = mil.lookup(node)
            return emitter, (emitter.min_ios - 9 if emitter is not None else 0)
        from bridgec.backends.coreml import ops

        emitter = ops.lookup(node)
        return emitter, (emitter.min_spec if emitter is not None else 0)


def capabilities_for(
    target: str | Target | None = None, avoid_ops: tuple[str, ...] = (), format: str = "neuralnetwork"
) -> CoreMLCapabilities:
    if not isinstance(target, Target):
        target = Target.parse(target, avoid_ops, format)
    return CoreMLCapabilities(target)
