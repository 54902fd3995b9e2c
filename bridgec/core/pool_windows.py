"""ONNX's MaxPool/AveragePool windows: where they start and how many there are on each spatial axis.

One statement of ONNX's rule (pads or auto_pad, then ceil_mode's rounding up, which never starts a
window in the end padding, as in PyTorch and onnxruntime; onnx's shape inference does not drop that
window), read by the Core ML pooling emitters and by the rule that makes a MaxPool's padding
explicit (``passes/lower/maxpool_pads.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bridgec.core import ops


@dataclass(frozen=True)
class AxisWindows:
    """One spatial axis: the begin pad, the node's end pad, and the number of windows."""

    begin: int
    end: int
    count: int

    def reach(self, size: int, kernel: int, stride: int) -> int:
        """How far the last window runs past the input's end (0: it ends inside the input)."""
        return max(0, (self.count - 1) * stride + kernel - size - self.begin)


def onnx_windows(node: Any, in_spatial: tuple[int, ...]) -> list[AxisWindows] | str:
    """The windows of the MaxPool/AveragePool ``node`` over ``in_spatial`` (dilations aside: the
    caller refuses them), or why ONNX's rule gives none that a pooling with padding can compute."""
    kernel = [int(k) for k in node.attrs["kernel_shape"]]
    n = len(kernel)
    strides = [int(s) for s in node.attrs.get("strides", [1] * n)]
    auto = str(ops.attr(node, "auto_pad"))
    ceil = bool(int(ops.attr(node, "ceil_mode")))
    pads = [0] * 2 * n if auto == "VALID" else [int(p) for p in node.attrs.get("pads", [0] * 2 * n)]
    axes = []
    for axis, (size, k, s) in enumerate(zip(in_spatial, kernel, strides, strict=True)):
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            count = math.ceil(size / s)
            if (count - 1) * s + k < size:
                # ONNX's pad formula goes negative (input past every window): the spec does not say
                # what that means, its reference fails, and onnxruntime crops (AveragePool) or fails
                # (MaxPool)
                return f"auto_pad {auto} with stride {s} past kernel {k} on {size} leaves input past every window"
            total = (count - 1) * s + k - size
            light, heavy = total // 2, total - total // 2
            b, e = (light, heavy) if auto == "SAME_UPPER" else (heavy, light)
        else:
            b, e = pads[axis], pads[axis + n]
            span = size + b + e - k
            if span < 0:
                # onnxruntime still makes one window here (integer division truncates); ONNX's
                # formula makes none
                return f"kernel {k} is larger than the padded input ({size} + pads {b}, {e})"
            if ceil:
                count = -(-span // s) + 1
                if (count - 1) * s >= size + b:  # a window starting in the end padding is dropped
                    count -= 1
            else:
                count = span // s + 1
        axes.append(AxisWindows(b, e, count))
    return axes
