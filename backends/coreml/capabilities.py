"""Capabilities of a Core ML target, answered from the op table (the single source of truth)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.backends.coreml import ops
from bridgec.backends.coreml.targets import SPEC_VERSIONS, Target


class CoreMLCapabilities:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.description = target.description

    def unsupported_reason(self, node: gs.Node) -> str | None:
        emitter = ops.lookup(node)
        if emitter is None:
            domain = ir.op_key(node)[0]
            if domain == ir.BRIDGEC_DOMAIN:
                return "no Core ML layer computes it"
            return "no Core ML layer for this op"
        if node.op in self.target.avoid_ops:
            return "avoided with --avoid-op"
        if emitter.min_spec > self.target.spec_version:
            first = min(
                (k for k, v in SPEC_VERSIONS.items() if v == emitter.min_spec and k.startswith("iOS")),
                default=f"spec {emitter.min_spec}",
            )
            return f"needs {first} or newer"
        if emitter.check is not None:
            return emitter.check(node, self.target)
        return None


def capabilities_for(
    target: str | Target | None = None, avoid_ops: tuple[str, ...] = ()
) -> CoreMLCapabilities:
    if not isinstance(target, Target):
        target = Target.parse(target, avoid_ops)
    return CoreMLCapabilities(target)
