"""MaxPool, AveragePool (1-D to 3-D) and the global pools (a reduction over the spatial axes)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mil import MilEmitter, attr_str, static_shape
from bridgec.backends.coreml.mil.conv import mil_pads


def _ceil_pads(in_spatial, kernel: list[int], strides: list[int], pads: list[int]) -> list[int]:
    """MIL-style pads [begin_0, end_0, ...] with which floor-mode pooling gives ONNX's ceil_mode output.

    ONNX (and PyTorch) round the output size up, then drop the last window if it would start in the
    right padding; MIL's ceil_mode does not drop it. Floor mode with the end pads set so exactly the
    ONNX windows fit computes the same windows (padding never enters a max, and is left out of or
    counted in an average as the node says, see _pool_check)."""
    out_pads = []
    for axis, (size, k, s) in enumerate(zip(in_spatial, kernel, strides, strict=True)):
        begin, end = pads[2 * axis], pads[2 * axis + 1]
        count = -(-(size + begin + end - k) // s) + 1
        if (count - 1) * s >= size + begin:
            count -= 1
        fit = (count - 1) * s + k - size - begin  # the end pad that makes the last window end at the edge
        out_pads += [begin, min(max(end, fit), fit + s - 1)]  # any in [fit, fit + s) fits no more windows
    return out_pads


def _pool_check(node: gs.Node, target) -> str | None:
    """Restrictions: no dilation; ceil_mode only with explicit pads (and, in an AveragePool counting the
    pads, only when the last window ends inside the pads); no Indices output."""
    kernel = [int(k) for k in node.attrs.get("kernel_shape", [])]
    if any(int(d) != 1 for d in node.attrs.get("dilations", [1] * len(kernel))):
        return "MIL pooling has no dilation"
    if int(node.attrs.get("storage_order", 0)) or (len(node.outputs) > 1 and node.outputs[1].outputs):
        return "MaxPool's Indices output has no MIL form"
    if int(node.attrs.get("ceil_mode", 0)):
        if attr_str(node, "auto_pad", "NOTSET") != "NOTSET":
            return "ceil_mode with auto_pad has no MIL form here; give explicit pads"
        if node.op == "AveragePool" and int(node.attrs.get("count_include_pad", 0)):
            shape = static_shape(node.inputs[0])
            if shape is None:
                return "ceil_mode with count_include_pad needs a static input shape"
            strides = [int(s) for s in node.attrs.get("strides", [1] * len(kernel))]
            pads = mil_pads(node, shape[2:], kernel, strides, [1] * len(kernel))
            if any(p > q for p, q in zip(_ceil_pads(shape[2:], kernel, strides, pads), pads, strict=True)):
                # the windows rounding up adds run past the pads, and ONNX divides those by fewer
                return "ceil_mode with count_include_pad where the last window runs past the pads"
    return None


def _pool(mil_op: str):
    def emit(ctx, node: gs.Node) -> None:
        x = ctx.value(node.inputs[0])
        kernel = [int(k) for k in node.attrs["kernel_shape"]]
        strides = [int(s) for s in node.attrs.get("strides", [1] * len(kernel))]
        pads = mil_pads(node, tuple(x.shape[2:]), kernel, strides, [1] * len(kernel))
        if int(node.attrs.get("ceil_mode", 0)):
            pads = _ceil_pads(tuple(int(d) for d in x.shape[2:]), kernel, strides, pads)
        params = {}
        if mil_op == "avg_pool":
            params["exclude_padding_from_average"] = not int(node.attrs.get("count_include_pad", 0))
        y = getattr(ctx.mb, mil_op)(
            x=x,
            kernel_sizes=kernel,
            strides=strides,
            pad_type="custom",
            pad=pads,
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
