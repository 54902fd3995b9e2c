"""Capabilities of a Core ML target, answered from the op tables (the single source of truth).

Each format has its own table: ``neuralnetwork_layers`` (NeuralNetwork layers) and
``mlprogram_ops`` (ML Program MIL ops). The passes ask the table of the format being emitted,
so they lower exactly what it lacks.
"""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends._table import EmitterInfo
from bridgec.backends.coreml.targets import MAX_RANK, Target, ios_name
from bridgec.core import ir
from bridgec.core.capabilities import NativeOp


class CoreMLCapabilities:
    """``bridgec.core.capabilities.Capabilities`` for one Core ML target and format."""

    def __init__(self, target: Target) -> None:
        self.target = target

    @property
    def description(self) -> str:
        return self.target.description

    @property
    def custom_layers(self) -> bool:
        """Can the format carry custom layers? (Only NeuralNetwork models can.)"""
        return self.target.format == "neuralnetwork"

    def unsupported_reason(self, node: gs.Node) -> str | None:
        domain = ir.op_key(node)[0]
        # The rank first: it refuses the node whatever it becomes, a custom layer included, which
        # is how the passes tell that a custom layer would not help
        too_big = rank_reason(node)
        if too_big:
            return too_big
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

    def native(self, key: ir.OpKey) -> NativeOp | None:
        emitter = self.emitter_for(key)
        if emitter is None:
            return None
        missing = None
        if emitter.min_spec_version > self.target.spec_version:
            missing = f"needs {ios_name(emitter.min_spec_version)} or newer"
        return NativeOp(emitter.emits, emitter.restrictions, missing)

    def emitter(self, node: gs.Node) -> EmitterInfo | None:
        """The emitter for ``node`` in this format's table (NeuralNetwork layers or MIL ops), or None."""
        return self.emitter_for(ir.op_key(node))

    def emitter_for(self, key: ir.OpKey) -> EmitterInfo | None:
        """The emitter for an op key in this format's table, whatever the target's version; or None."""
        domain, op = key
        if self.target.format == "mlprogram":
            from bridgec.backends.coreml import mlprogram_ops

            return mlprogram_ops.table().get(key)
        from bridgec.backends.coreml import neuralnetwork_layers

        return neuralnetwork_layers.table().get((domain, "*" if domain == ir.CUSTOM_DOMAIN else op))


def rank_reason(node: gs.Node) -> str | None:
    """Why ``node`` holds a tensor no Core ML model can: one of rank > MAX_RANK among its outputs and
    computed inputs (a constant input is a weight or folds away when the model is built)."""
    tensors = [t for t in node.inputs if not ir.is_empty(t) and not isinstance(t, gs.Constant)]
    ranks = [(len(t.shape), t.name) for t in [*tensors, *node.outputs] if t.shape is not None]
    rank, name = max(ranks, default=(0, ""))
    if rank > MAX_RANK:
        return (
            f"a rank-{rank} tensor ({name!r}); Core ML tensors have rank <= {MAX_RANK}: reshape the "
            "model to merge axes"
        )
    return None


def capabilities_for(
    target: str | Target | None = None, avoid_ops: tuple[str, ...] = (), format: str = "neuralnetwork"
) -> CoreMLCapabilities:
    """The capabilities of a target given by name (``None``: the default) or as a ``Target``."""
    if not isinstance(target, Target):
        target = Target.parse(target, avoid_ops, format)
    return CoreMLCapabilities(target)
