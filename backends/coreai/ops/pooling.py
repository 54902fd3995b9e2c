"""MaxPool (2-D) as ``pad(-inf)`` then ``max_pool_2d`` (Core AI pools have no padding), and
GlobalAveragePool / GlobalMaxPool as ``reduce_mean`` / ``reduce_max`` over the spatial axes (which
keeps them, as ONNX does)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, float_only, i32, needs_static, u32
from bridgec.core import ir


def onnx_pads_to_coreai(pads, rank: int) -> np.ndarray:
    """ONNX's [b_2, b_3, ..., e_2, e_3, ...] over the spatial axes -> Core AI's ui32
    [b0, a0, b1, a1, ...] over every axis (the leading axes unpadded)."""
    k = len(pads) // 2
    out = [0, 0] * (rank - k)
    for i in range(k):
        out += [int(pads[i]), int(pads[i + k])]
    return u32(out)


def _maxpool_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D (rank-4 input), static shapes, float32, no Indices output, auto_pad NOTSET,
    storage order 0."""
    x = node.inputs[0]
    if x.shape is None or len(x.shape) != 4:
        return f"input {x.name!r} has shape {x.shape}; coreai.max_pool_2d is 2-D (rank 4)"
    if len(node.outputs) > 1 and not ir.is_empty(node.outputs[1]):
        return "the Indices output: Core AI's max_pool_2d has none"
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad != "NOTSET":
        return f"auto_pad {auto_pad}: only explicit pads"
    if int(node.attrs.get("storage_order", 0)) != 0:
        return "storage_order 1"
    return needs_static(node, "MaxPool (max_pool_2d takes its output type)") or float_only(node)


def _maxpool(ctx, node: gs.Node) -> None:
    x = ctx.value(node.inputs[0])
    kernel = node.attrs["kernel_shape"]
    pads = node.attrs.get("pads", [0] * 2 * len(kernel))
    if any(pads):
        x = ctx.call("pad", x, onnx_pads_to_coreai(pads, 4), np.float32(-np.inf))
    y = ctx.call(
        "maxpool2d",
        ctx.tensor_type(node.outputs[0]),
        x,
        u32(kernel),
        u32(node.attrs.get("strides", [1] * len(kernel))),
        u32(node.attrs.get("dilations", [1] * len(kernel))),
        np.array(bool(node.attrs.get("ceil_mode", 0))),
    )
    ctx.set(node.outputs[0], y)


def _average_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D (rank-4 input), static shapes, float32, auto_pad NOTSET, no dilations."""
    x = node.inputs[0]
    if x.shape is None or len(x.shape) != 4:
        return f"input {x.name!r} has shape {x.shape}; coreai.sum_pool_2d is 2-D (rank 4)"
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad != "NOTSET":
        return f"auto_pad {auto_pad}: only explicit pads"
    if any(int(d) != 1 for d in node.attrs.get("dilations", [1, 1])):
        return "dilations"
    static = needs_static(node, "AveragePool (its divisor is computed when the model is built)")
    if static:
        return static
    if not window_counts(*_average_geometry(node)).all():
        return "a window (ceil_mode) that holds no cell of the input"
    return float_only(node)


def _average_geometry(
    node: gs.Node,
) -> tuple[tuple[int, ...], list[int], list[int], list[int], bool, list[int]]:
    """Spatial input shape, kernel, strides and pads for the sum pool, the end pads grown by the cells
    ceil_mode's last windows reach past the padded input (the output shape says how many windows)."""
    spatial = tuple(node.inputs[0].shape[2:])
    kernel = [int(v) for v in node.attrs["kernel_shape"]]
    strides = [int(v) for v in node.attrs.get("strides", [1, 1])]
    pads = [int(v) for v in node.attrs.get("pads", [0, 0, 0, 0])]
    out = node.outputs[0].shape[2:]
    k = len(kernel)
    overhang = [
        max(0, (out[i] - 1) * strides[i] + kernel[i] - (spatial[i] + pads[i] + pads[i + k])) for i in range(k)
    ]
    return spatial, kernel, strides, pads, bool(node.attrs.get("count_include_pad", 0)), overhang


def window_counts(
    spatial, kernel, strides, pads, include_pad: bool, overhang: list[int] | None = None
) -> np.ndarray:
    """How many cells each window averages: ONNX's divisor, [out_h, out_w]. The pads count when
    ``include_pad``; the cells a ceil_mode window reaches past the padded input never do (as
    onnxruntime's and torch's pools divide)."""
    k = len(kernel)
    overhang = overhang or [0] * k
    cells = np.pad(
        np.ones(spatial, np.float64),
        [(int(pads[i]), int(pads[i + k])) for i in range(k)],
        constant_values=1.0 if include_pad else 0.0,
    )
    cells = np.pad(cells, [(0, int(extra)) for extra in overhang])
    windows = np.lib.stride_tricks.sliding_window_view(cells, tuple(int(v) for v in kernel))
    windows = windows[tuple(slice(None, None, int(s)) for s in strides)]
    return windows.sum(axis=(-2, -1))


def _average(ctx, node: gs.Node) -> None:
    # a fixed 1:1 pattern: zero pad, sum of each window, divided by ONNX's count for that window
    from coreai.authoring.constant import constant  # sumpool2d does not materialise a numpy dilation

    spatial, kernel, strides, pads, include_pad, overhang = _average_geometry(node)
    k = len(kernel)
    x = ctx.value(node.inputs[0])
    padding = [*pads[:k], *(p + extra for p, extra in zip(pads[k:], overhang, strict=True))]
    if any(padding):  # zeros add nothing to a sum: the divisor below says what each window counts
        x = ctx.call("pad", x, onnx_pads_to_coreai(padding, 4), np.float32(0))
    summed = ctx.call("sumpool2d", x, u32(kernel), u32(strides), constant(u32([1, 1])))
    counts = window_counts(spatial, kernel, strides, pads, include_pad, overhang)
    divisor = counts.astype(np.float32).reshape(1, 1, *counts.shape)
    ctx.set(node.outputs[0], ctx.call("broadcasting_divide", summed, divisor))


def _global_check(node: gs.Node, target) -> str | None:
    """Restrictions: float32, known rank >= 3."""
    x = node.inputs[0]
    if x.shape is None or len(x.shape) < 3:
        return f"input {x.name!r} has shape {x.shape}; needs a known rank >= 3"
    return float_only(node)


def _global(coreai_op: str):
    def emit(ctx, node: gs.Node) -> None:
        rank = len(node.inputs[0].shape)
        ctx.set(node.outputs[0], ctx.call(coreai_op, ctx.value(node.inputs[0]), i32(list(range(2, rank)))))

    return emit


emitters = [
    CoreAIEmitter("MaxPool", _maxpool, _maxpool_check, coreai_ops=("pad", "max_pool_2d")),
    CoreAIEmitter(
        "AveragePool", _average, _average_check, coreai_ops=("pad", "sum_pool_2d", "broadcasting_divide")
    ),
    CoreAIEmitter("GlobalAveragePool", _global("reduce_mean"), _global_check, coreai_ops=("reduce_mean",)),
    CoreAIEmitter("GlobalMaxPool", _global("reduce_max"), _global_check, coreai_ops=("reduce_max",)),
]
