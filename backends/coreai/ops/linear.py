"""MatMul: ``coreai.batch_matmul`` when the batch dimensions are equal, else the broadcasting op."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, float_only, value_shape


def _matmul_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32, both operands of rank >= 2 (lower::rank makes 1-D operands 2-D)."""
    for tensor in node.inputs:
        # an unknown rank (a rule's new tensor, before shape inference) is taken: the emit stage sees it
        if tensor.shape is not None and len(tensor.shape) < 2:
            return f"operand {tensor.name!r} has shape {tensor.shape}; Core AI's batch_matmul needs rank >= 2"
    return float_only(node)


def _matmul(ctx, node: gs.Node) -> None:
    a, b = node.inputs
    sa, sb = value_shape(ctx, a), value_shape(ctx, b)
    same_batch = len(sa) == len(sb) and list(sa[:-2]) == list(sb[:-2])
    name = "batch_matmul" if same_batch else "broadcasting_batch_matmul"
    ctx.set(node.outputs[0], ctx.call(name, ctx.value(a), ctx.value(b)))


emitters = [
    CoreAIEmitter("MatMul", _matmul, _matmul_check, coreai_ops=("batch_matmul", "broadcasting_batch_matmul"))
]
