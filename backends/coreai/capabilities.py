"""Capabilities of a Core AI target, answered from the Core AI op table (``ops/``)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreai import kernels
from bridgec.backends.coreai.ops import CoreAIEmitter, table
from bridgec.backends.coreai.targets import Target
from bridgec.core import ir
from bridgec.core.capabilities import NativeOp


class CoreAICapabilities:
    """``bridgec.core.capabilities.Capabilities`` for a Core AI target."""

    def __init__(self, target: Target) -> None:
        self.target = target

    @property
    def description(self) -> str:
        return self.target.description

    @property
    def custom_layers(self) -> bool:
        return True  # as coreai.metal4_kernel ops carrying the bundled kernel's Metal source (kernels.py)

    @property
    def fix_for_unsupported(self) -> str:
        """What check::target_legal advises for nodes Core AI cannot run (``core.capabilities.own_fix``):
        no Core ML custom layer or other format applies to an ``.aimodel``."""
        kernel = (
            "-O lower-custom or -O custom keeps an op with a bundled kernel as a Metal kernel "
            "(coreai.metal4_kernel); "
            if self.custom_layers
            else ""
        )
        return (
            f"{kernel}for the others, a lowering rule into ops Core AI has converts them (passes/lower/, "
            "loaded with --load-passes), or file an issue asking for a Core AI emitter for the op "
            "(--format mlprogram writes a Core ML model instead)"
        )

    def unsupported_reason(self, node: gs.Node) -> str | None:
        domain = ir.op_key(node)[0]
        emitter = self.emitter(node)
        if emitter is None:
            if domain == ir.CUSTOM_DOMAIN:
                return f"no bundled kernel for custom layer {node.op}: a Core AI model carries the kernel's Metal source"
            return "no Core AI op computes it" if domain == ir.BRIDGEC_DOMAIN else "no Core AI op for this op"
        if node.op in self.target.avoid_ops and domain != ir.CUSTOM_DOMAIN:  # a custom kernel is not the op
            return "avoided with --avoid-op"
        if emitter.check is not None:
            return emitter.check(node, self.target)
        return None

    def custom_kernel(self, node: gs.Node) -> tuple[str, str]:
        """(kernel kinds, how) of a custom-layer node for the op report: the Metal 4 kernel the model carries."""
        return kernels.KINDS, kernels.kernel_note(node)

    def native(self, key: ir.OpKey) -> NativeOp | None:
        emitter = self.emitter_for(key)
        return None if emitter is None else NativeOp(emitter.emits, emitter.restrictions)

    def emitter(self, node: gs.Node) -> CoreAIEmitter | None:
        return self.emitter_for(ir.op_key(node))

    def emitter_for(self, key: ir.OpKey) -> CoreAIEmitter | None:
        return table().get(key)


def capabilities_for(
    target: str | Target | None = None, avoid_ops: tuple[str, ...] = ()
) -> CoreAICapabilities:
    if not isinstance(target, Target):
        target = Target.parse(target, avoid_ops)
    return CoreAICapabilities(target)
