"""Capabilities of a Core ML target, answered from the op tables (the single source of truth).

Each format has its own table: ``ops`` (NeuralNetwork layers) and ``mil`` (ML Program MIL ops).
The passes ask the table of the format being emitted, so they lower exactly what it lacks.
"""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.targets import Target, ios_name
from bridgec.core import ir


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
        emitter = self.emitter(node)
        if emitter is None:
            if domain == ir.BRIDGEC_DOMAIN:
                return "no Core ML layer computes it"
            return "no Core ML layer for this op" if self.custom_layers else "no MIL op for this op"
        if node.op in self.target.avoid_ops and domain != ir.CUSTOM_DOMAIN:  # a custom layer is not the op
            return "avoided with --avoid-op"
        if emitter.min_spec_version > self.target.spec_version:
            return f"needs {ios_name(emitter.min_spec_version)} or newer"
        if emitter.check is not None:
            return emitter.check(node, self.target)
        return None

    def emitter(self, node: gs.Node):
        """The emitter for ``node`` in this format's table (NeuralNetwork layers or MIL ops), or None."""
        return self.emitter_for(ir.op_key(node))

    def emitter_for(self, key: ir.OpKey):
        """The emitter for an op key in this format's table, whatever the target's version; or None."""
        domain, op = key
        if self.target.format == "mlprogram":
            from bridgec.backends.coreml import mil

            return mil.table().get(key)
        from bridgec.backends.coreml import ops

        return ops.table().get((domain, "*" if domain == ir.CUSTOM_DOMAIN else op))


def capabilities_for(
    target: str | Target | None = None, avoid_ops: tuple[str, ...] = (), format: str = "neuralnetwork"
) -> CoreMLCapabilities:
    if not isinstance(target, Target):
        target = Target.parse(target, avoid_ops, format)
    return CoreMLCapabilities(target)
