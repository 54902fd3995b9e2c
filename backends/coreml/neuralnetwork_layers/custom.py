"""Custom layers: nodes a pass moved into bridgec's custom-layer domain become CustomLayerParams."""

from __future__ import annotations

import math

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.core import ir
from bridgec.core.words import noun
from bridgec.runtime_kernels.catalog import KERNELS


def _emit(ctx, node: gs.Node) -> None:
    from bridgec.backends.coreml import _coremltools

    NeuralNetwork_pb2 = _coremltools.load().proto.NeuralNetwork_pb2  # noqa: N806

    params = NeuralNetwork_pb2.CustomLayerParams()
    params.className = node.op
    spec = KERNELS.get(node.op)
    params.description = (
        spec.description if spec else f"{node.op} (no bundled kernel: implement MLCustomLayer)"
    )
    kinds = spec.parameters if spec else {}
    for key, value in sorted(node.attrs.items()):
        slot = params.parameters[key]
        kind = kinds.get(key)
        if isinstance(value, bool):
            slot.boolValue = value
        elif kind == "double" or isinstance(value, float):
            slot.doubleValue = float(value)
        elif isinstance(value, int):
            slot.intValue = value
        elif isinstance(value, str):
            slot.stringValue = value
        else:
            raise ValueError(f"attribute {key}={value!r} cannot be a custom layer parameter")
    ctx.builder.add_custom(node.name, ctx.input_blobs(node), [t.name for t in node.outputs], params)


def _check(node: gs.Node, target) -> str | None:
    """Restrictions: every parameter of the kernel's class present; no NaN parameter."""
    spec = KERNELS.get(node.op)
    if spec is None:
        return None
    missing = [p for p in spec.parameters if p not in node.attrs]
    if missing:
        return f"custom layer {node.op} is missing {noun(missing, 'parameter')} {missing}"
    if any(isinstance(v, float) and math.isnan(v) for v in node.attrs.values()):
        return "NaN parameter"
    return None


emitters = [Emitter("*", _emit, _check, domain=ir.CUSTOM_DOMAIN, min_spec=4, layer="custom")]
