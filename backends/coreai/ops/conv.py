"""Conv (2-D, and 1-D as 2-D over a unit H axis): ``coreai.conv2d``, which has neither padding nor
bias; ``lower::conv_pads`` and ``lower::conv_bias`` make those a Pad and an Add before the emitter
sees the node. A 1-D window over [N, C, L] is the window (1, k) over [N, C, 1, L] (``lower::conv1d``
says why that is exact); ``expand_dims`` and ``shrink_dims`` around the op move no data."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.ops import CoreAIEmitter, float_only, i32, u32
from bridgec.core import ir


def _conv_check(node: gs.Node, target) -> str | None:
    """Restrictions: 1-D or 2-D (rank-3 or rank-4 input), float32, no padding (a Pad before it), no bias
    (an Add after it), auto_pad NOTSET."""
    x = node.inputs[0]
    if x.shape is None or len(x.shape) not in (3, 4):
        return f"input {x.name!r} has shape {x.shape}; coreai.conv2d is 2-D (rank 4; rank 3 over a unit H)"
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad != "NOTSET":
        return f"auto_pad {auto_pad}: coreai.conv2d has no padding (explicit pads are a Pad)"
    if any(node.attrs.get("pads", [0])):
        return "padding: coreai.conv2d has none (lower::conv_parts makes it a Pad)"
    if len(node.inputs) > 2 and not ir.is_empty(node.inputs[2]):
        return "a bias: coreai.conv2d has none (lower::conv_parts makes it an Add)"
    return float_only(node)


def _conv(ctx, node: gs.Node) -> None:
    spatial = len(node.inputs[0].shape) - 2
    strides = [int(v) for v in node.attrs.get("strides", [1] * spatial)]
    dilations = [int(v) for v in node.attrs.get("dilations", [1] * spatial)]
    groups = np.array(int(node.attrs.get("group", 1)), np.uint32)  # 0-D: a 1-D [1] is rejected
    x, w = ctx.value(node.inputs[0]), ctx.value(node.inputs[1])
    if spatial == 1:  # the unit H axis: stride and dilation 1 there (ExpandDimsOp / ShrinkDimsOp)
        x = ctx.call("expand_dims", x, i32([2]))
        w = w[:, :, None] if isinstance(w, np.ndarray) else ctx.call("expand_dims", w, i32([2]))
        strides, dilations = [1, *strides], [1, *dilations]
    y = ctx.call("conv2d", x, w, u32(strides), u32(dilations), groups)
    if spatial == 1:
        y = ctx.call("shrink_dims", y, i32([2]))
    ctx.set(node.outputs[0], y)


emitters = [CoreAIEmitter("Conv", _conv, _conv_check, coreai_ops=("conv2d", "expand_dims", "shrink_dims"))]
