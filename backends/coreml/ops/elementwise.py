"""Elementwise arithmetic with numpy broadcasting (the *Broadcastable layers, spec 4+)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.ops import Emitter

_LAYERS = {
    "Add": "add_add_broadcastable",
    "Sub": "add_subtract_broadcastable",
    "Mul": "add_multiply_broadcastable",
    "Div": "add_divide_broadcastable",
    "Max": "add_max_broadcastable",
    "Min": "add_min_broadcastable",
}


def _binary(op: str):
    method = _LAYERS[op]

    def emit(ctx, node: gs.Node) -> None:
        blobs = ctx.input_blobs(node)
        if len(blobs) == 1:  # Max/Min of one input is the input
            ctx.builder.add_activation(node.name, "LINEAR", blobs[0], node.outputs[0].name, params=[1.0, 0.0])
            return
        out = node.outputs[0].name
        # Max/Min take any number of inputs: fold pairwise.
        acc = blobs[0]
        for i, other in enumerate(blobs[1:], start=1):
            target = out if i == len(blobs) - 1 else f"{node.name}__{i}"
            getattr(ctx.builder, method)(node.name if i == len(blobs) - 1 else target, [acc, other], target)
            acc = target

    return emit


_KINDS = {
    "Add": "addBroadcastable",
    "Sub": "subtractBroadcastable",
    "Mul": "multiplyBroadcastable",
    "Div": "divideBroadcastable",
    "Max": "maxBroadcastable",
    "Min": "minBroadcastable",
}

emitters = [Emitter(op, _binary(op), layer=_KINDS[op]) for op in _LAYERS]
