"""MaxPool, AveragePool (1-D to 3-D) and the global pools (a reduction over the spatial axes)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import MilEmitter, static_shape
from bridgec.backends.coreml.neuralnetwork_layers.pooling import exclude_padding, window_pads


def _static_spatial(node: gs.Node) -> tuple[int, ...] | None:
    shape = static_shape(node.inputs[0])
    return None if shape is None or len(shape) < 3 else shape[2:]


def _pool_check(node: gs.Node, target) -> str | None:
    """Restrictions: no dilation; a static input shape for ceil_mode and auto_pad SAME; no Indices
    output; an AveragePool counting its pads only where the ceil_mode windows stay inside them (MIL
    counts all padding or none)."""
    if len(node.outputs) > 1 and node.outputs[1].outputs:
        return "MaxPool's Indices output has no MIL form"
    windows = window_pads(node, _static_spatial(node))
    if isinstance(windows, str):
        return windows
    if node.op == "AveragePool":
        exclude = exclude_padding(node, windows)
        if isinstance(exclude, str):
            return exclude
    return None


def _pool(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        # ONNX's windows as floor-mode pooling with explicit pads (see ops/pooling.py): MIL's own
        # ceil_mode takes symmetric pads only, and its doc does not say how an average counts the
        # part of a rounded-up window past the input.
        windows = window_pads(node, _static_spatial(node))
        params = {}
        if mil_op == "avg_pool":
            params["exclude_padding_from_average"] = exclude_padding(node, windows)
        y = getattr(ctx.mb, mil_op)(
            x=ctx.value(node.inputs[0]),
            kernel_sizes=list(windows.kernel),
            strides=list(windows.strides),
            pad_type="custom",
            pad=[p for b, e in zip(windows.begin, windows.end, strict=True) for p in (b, e)],
            name=ctx.name(node.outputs[0]),
            **params,
        )
        ctx.set(node.outputs[0], y)

    return emit


def _global(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        x = ctx.value(node.inputs[0])
        axes = list(range(2, len(x.shape)))
        ctx.set(
            node.outputs[0],
            getattr(ctx.mb, mil_op)(x=x, axes=axes, keep_dims=True, name=ctx.name(node.outputs[0])),
        )

    return emit


emitters = [
    MilEmitter("MaxPool", _pool("max_pool"), _pool_check, mil_ops=("max_pool",)),
    MilEmitter("AveragePool", _pool("avg_pool"), _pool_check, mil_ops=("avg_pool",)),
    MilEmitter("GlobalAveragePool", _global("reduce_mean"), mil_ops=("reduce_mean",)),
    MilEmitter("GlobalMaxPool", _global("reduce_max"), mil_ops=("reduce_max",)),
]
