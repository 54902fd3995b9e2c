"""Max/average pooling, local and global (2-D, and 3-D from iOS14).

Every ONNX window layout (explicit or asymmetric pads, auto_pad, ceil_mode) is emitted as Core ML's
floor-mode pooling with explicit ``ValidPadding`` amounts: ``window_pads`` finds the end padding
with which floor mode computes exactly ONNX's windows. ``includeLastPixel`` (Core ML's rounding-up
padding) serves only a MaxPool whose windows its documented output size gives: NeuralNetwork.proto
does not say whether its rounding overhang counts in an average, and it takes symmetric padding
only; but it keeps a ceil_mode MaxPool one layer for every input size (flexible shapes), where the
explicit end pad changes with the size.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.neuralnetwork_layers import Emitter
from bridgec.backends.coreml.neuralnetwork_layers.conv import volume_reason
from bridgec.core import ops
from bridgec.core.pool_windows import onnx_windows

_SAME = {"SAME_UPPER": "BOTTOM_RIGHT_HEAVY", "SAME_LOWER": "TOP_LEFT_HEAVY"}  # the odd pad at the end / start


@dataclass(frozen=True)
class PoolWindows:
    """ONNX pooling windows as floor-mode pooling: per spatial axis the begin pad, the end pad that
    fits exactly ONNX's windows (``end``) and the node's own end pad (``declared_end``)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    begin: tuple[int, ...]
    end: tuple[int, ...]
    declared_end: tuple[int, ...]

    @property
    def overhang(self) -> bool:
        """Whether a window (ceil_mode's last) runs past the node's padding."""
        return any(e > d for e, d in zip(self.end, self.declared_end, strict=True))

    @property
    def declared_padding(self) -> bool:
        return any(self.begin) or any(self.declared_end)


def window_pads(node: gs.Node, in_spatial: tuple[int, ...] | None) -> PoolWindows | str:
    """The windows of a MaxPool/AveragePool ``node`` over ``in_spatial`` as floor-mode pooling, or
    why there is no floor-mode form of them (ONNX's rule: ``pool_windows.onnx_windows``). Without
    the spatial shape (None) only floor-mode windows with explicit pads are known: the node's own
    pads."""
    kernel = tuple(int(k) for k in node.attrs["kernel_shape"])
    n = len(kernel)
    strides = tuple(int(s) for s in node.attrs.get("strides", [1] * n))
    if any(int(d) != 1 for d in node.attrs.get("dilations", [1] * n)):
        return "pooling with dilations has no Core ML form"
    auto = str(ops.attr(node, "auto_pad"))
    ceil = bool(int(ops.attr(node, "ceil_mode")))
    if in_spatial is None:
        if ceil or auto in ("SAME_UPPER", "SAME_LOWER"):
            return f"{node.op} with ceil_mode or auto_pad SAME needs the input's static spatial shape"
        pads = [0] * 2 * n if auto == "VALID" else [int(p) for p in node.attrs.get("pads", [0] * 2 * n)]
        return PoolWindows(kernel, strides, tuple(pads[:n]), tuple(pads[n:]), tuple(pads[n:]))
    axes = onnx_windows(node, in_spatial)
    if isinstance(axes, str):
        return axes
    end = []
    for size, k, s, axis in zip(in_spatial, kernel, strides, axes, strict=True):
        fit = (
            (axis.count - 1) * s + k - size - axis.begin
        )  # the end pad with which the last window ends the input
        # Any end pad in [fit, fit + s) makes exactly these windows. The node's own is one unless a
        # ceil_mode window runs past it; then e + s - 1 is one for every input size where ONNX
        # drops no window (a layer that holds across flexible shapes), except where the node
        # counts its pads in an average: there the smallest keeps the overhang out if it can be.
        target = (
            axis.end + s - 1 if ceil and not (node.op == "AveragePool" and _counts_pads(node)) else axis.end
        )
        end.append(min(max(target, fit), fit + s - 1))
    return PoolWindows(kernel, strides, tuple(a.begin for a in axes), tuple(end), tuple(a.end for a in axes))


def _counts_pads(node: gs.Node) -> bool:
    return bool(int(ops.attr(node, "count_include_pad")))


def exclude_padding(node: gs.Node, windows: PoolWindows) -> bool | str:
    """An AveragePool's divisor as Core ML's one flag (exclude the padding from the count or not),
    or why the flag cannot say it.

    ONNX (like PyTorch) counts the node's own padding when count_include_pad is set, but never the
    part of a ceil_mode window beyond it; Core ML counts all padding or none."""
    if not _counts_pads(node):
        return True
    if not windows.overhang:
        return False
    if not windows.declared_padding:
        return True  # nothing declared to count: the divisor is the part inside the input
    return "count_include_pad with a ceil_mode window past the pads: its divisor has no Core ML form"


def _include_last_pixel(node: gs.Node, windows: PoolWindows) -> bool:
    """Whether includeLastPixel computes ``node``'s windows: a ceil_mode MaxPool with symmetric pads,
    whose "H_out = ceil(float(H_in + 2 * paddingAmounts[0] - kernelSize[0]) / float(Stride[0])) + 1",
    less a window starting past "H_in + paddingAmounts[0]" only "if (paddingAmounts[0] > 0 or
    paddingAmounts[1] > 0)", is ONNX's count: it always drops such a window, which without padding
    exists only for a kernel below its stride."""
    if node.op != "MaxPool" or not int(ops.attr(node, "ceil_mode")):
        return False
    if str(ops.attr(node, "auto_pad")) != "NOTSET" or windows.begin != windows.declared_end:
        return False
    return any(windows.begin) or all(k >= s for k, s in zip(windows.kernel, windows.strides, strict=True))


def _static_spatial(node: gs.Node) -> tuple[int, ...] | None:
    shape = node.inputs[0].shape
    if shape is None or len(shape) < 3 or not all(isinstance(d, int) for d in shape[2:]):
        return None
    return tuple(int(d) for d in shape[2:])


def _windows(node: gs.Node) -> PoolWindows | str:
    """The node's windows; SamePadding sizes auto_pad SAME's by itself, so it needs no static shape."""
    auto = str(ops.attr(node, "auto_pad"))
    spatial = _static_spatial(node)
    if spatial is None and auto in _SAME:
        kernel = tuple(int(k) for k in node.attrs["kernel_shape"])
        zeros = (0,) * len(kernel)
        if any(int(d) != 1 for d in node.attrs.get("dilations", [])):
            return "pooling with dilations has no Core ML form"
        return PoolWindows(
            kernel, tuple(int(s) for s in node.attrs.get("strides", [1] * len(kernel))), zeros, zeros, zeros
        )
    return window_pads(node, spatial)


def _pool_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D, or 3-D from iOS14; no dilations; a static input H and W for ceil_mode; no
    MaxPool indices output; an AveragePool counting its pads only where the ceil_mode windows stay
    inside them; 3-D: a static input D, H and W for ceil_mode or auto_pad SAME, no MaxPool window
    reaching the padding (Pooling3D pads with zeros)."""
    kernel = node.attrs.get("kernel_shape", [])
    if len(kernel) not in (2, 3):
        return f"only 2-D and 3-D pooling map to Core ML (kernel_shape {list(kernel)})"
    if len(node.outputs) > 1 and node.outputs[1].outputs:
        return "MaxPool indices output is not supported"
    if len(kernel) == 3:
        return volume_reason(node, target, "pooling3d") or _pool3d_reason(node)
    windows = _windows(node)
    if isinstance(windows, str):
        return windows
    if node.op == "AveragePool":
        exclude = exclude_padding(node, windows)
        if isinstance(exclude, str):
            return exclude
    return None


def _reach(node: gs.Node, windows: PoolWindows, spatial: tuple[int, ...] | None) -> tuple[int, ...]:
    """Per axis, how far the last window runs past the input's end (into the end padding); the
    declared end padding where the input's size is unknown."""
    axes = None if spatial is None else onnx_windows(node, spatial)
    if axes is None or isinstance(axes, str):
        return windows.declared_end
    return tuple(
        a.reach(n, k, s) for a, n, k, s in zip(axes, spatial, windows.kernel, windows.strides, strict=True)
    )


def _pool3d_reason(node: gs.Node) -> str | None:
    """Why Pooling3D cannot compute ``node``'s windows (CUSTOM padding of exactly those), or None."""
    spatial = _static_spatial(node)
    windows = window_pads(node, spatial)
    if isinstance(windows, str):
        return windows
    if node.op == "MaxPool" and (any(windows.begin) or any(_reach(node, windows, spatial))):
        # NeuralNetwork.proto, Pooling3DLayerParams: "All padding types pad the input shape with
        # zeros"; ONNX's max never takes a padded cell. lower::maxpool_pads pads with -inf first.
        return "3-D MaxPool windows reach the padding, which Pooling3D fills with zeros (ONNX's max skips it)"
    if node.op == "AveragePool":
        exclude = exclude_padding(node, windows)
        if isinstance(exclude, str):
            return exclude
    return None


def _pool3d(ctx, node: gs.Node, kind: str) -> None:
    """Pooling3D with CUSTOM padding: the begin pads and the end pads that fit ONNX's windows
    (``window_pads``); "countExcludePadding: If true, exclude zeros from padding in Average
    pooling. Meaningless in Max Pooling"."""
    windows = window_pads(node, _static_spatial(node))
    (kd, kh, kw), (sd, sh, sw) = windows.kernel, windows.strides
    ctx.builder.add_pooling3d(
        node.name,
        ctx.blob(node.inputs[0]),
        node.outputs[0].name,
        kind,
        kd,
        kh,
        kw,
        sd,
        sh,
        sw,
        padding_mode="custom",
        custom_padding_front=windows.begin[0],
        custom_padding_back=windows.end[0],
        custom_padding_top=windows.begin[1],
        custom_padding_bottom=windows.end[1],
        custom_padding_left=windows.begin[2],
        custom_padding_right=windows.end[2],
        average_pooling_count_excludes_padding=kind == "AVERAGE" and exclude_padding(node, windows),
    )


def _pool(kind: str):
    def emit(ctx, node: gs.Node) -> None:
        if len(node.attrs["kernel_shape"]) == 3:
            _pool3d(ctx, node, kind)
            return
        windows = _windows(node)
        (kh, kw), (sh, sw) = windows.kernel, windows.strides
        exclude = exclude_padding(node, windows) if kind == "AVERAGE" else True
        auto_pad = str(ops.attr(node, "auto_pad"))
        if auto_pad in _SAME:
            # SamePadding computes ONNX's SAME pads from the input size (one layer for every size)
            padding, end = {"padding_type": "SAME", "same_padding_asymmetry_mode": _SAME[auto_pad]}, None
        elif _include_last_pixel(node, windows):
            padding, end = {"padding_type": "INCLUDE_LAST_PIXEL"}, windows.declared_end
        else:
            padding, end = {"padding_type": "VALID"}, windows.end
        if end is not None:
            padding.update(
                padding_top=windows.begin[0],
                padding_bottom=end[0],
                padding_left=windows.begin[1],
                padding_right=end[1],
            )
        ctx.builder.add_pooling(
            node.name,
            kh,
            kw,
            sh,
            sw,
            kind,
            input_name=ctx.blob(node.inputs[0]),
            output_name=node.outputs[0].name,
            exclude_pad_area=exclude,
            **padding,
        )

    return emit


def _global(kind: str):
    def emit(ctx, node: gs.Node) -> None:
        shape = ctx.shape(node.inputs[0])
        if shape is not None and len(shape) == 5:
            # GlobalPooling3D: "the Kernel is the size of the input and there is no padding"
            ctx.builder.add_global_pooling3d(node.name, ctx.blob(node.inputs[0]), node.outputs[0].name, kind)
            return
        ctx.builder.add_pooling(
            node.name,
            0,
            0,
            1,
            1,
            kind,
            "VALID",
            ctx.blob(node.inputs[0]),
            node.outputs[0].name,
            is_global=True,
        )

    return emit


def _global_check(node: gs.Node, target) -> str | None:
    """Restrictions: rank-4 NCHW input (2-D pooling), or rank-5 NCDHW from iOS14."""
    shape = node.inputs[0].shape
    if shape is not None and len(shape) == 5:
        return volume_reason(node, target, "globalPooling3d")
    if shape is not None and len(shape) < 3:
        # ONNX's input is "(N x C x D1 x D2 ... Dn)"; onnxruntime fails below rank 3 ("Input
        # dimension cannot be less than 3"), so rank 2 has no reference to be exact to
        return f"{node.op} needs an (N, C, D1, ...) input with a spatial axis (rank {len(shape)})"
    if shape is not None and len(shape) != 4:
        return f"only 2-D and 3-D global pooling map to Core ML (input rank {len(shape)})"
    return None


emitters = [
    Emitter("MaxPool", _pool("MAX"), _pool_check, layer="pooling"),
    Emitter("AveragePool", _pool("AVERAGE"), _pool_check, layer="pooling"),
    Emitter("GlobalAveragePool", _global("AVERAGE"), _global_check, layer="pooling"),
    Emitter("GlobalMaxPool", _global("MAX"), _global_check, layer="pooling"),
]
