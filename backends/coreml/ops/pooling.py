"""Max/average pooling, local and global (2-D)."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.backends.coreml.ops import Emitter


def _pool_check(node: gs.Node, target) -> str | None:
    """Restrictions: 2-D only; no dilations; auto_pad NOTSET or VALID; no MaxPool indices output; ceil_mode only with symmetric padding (and kernel >= stride when unpadded)."""
    kernel = node.attrs.get("kernel_shape", [])
    if len(kernel) != 2:
        return f"only 2-D pooling maps to Core ML (kernel_shape {list(kernel)})"
    if any(d != 1 for d in node.attrs.get("dilations", [1, 1])):
        return "dilated pooling is not supported"
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return f"auto_pad {node.attrs['auto_pad']} is not supported"
    if len(node.outputs) > 1 and node.outputs[1].outputs:
        return "MaxPool indices output is not supported"
    if int(node.attrs.get("ceil_mode", 0)):
        pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
        if pads[:2] != pads[2:]:
            return "ceil_mode with asymmetric padding is not supported"
        if not any(pads) and any(
            k < s for k, s in zip(kernel, node.attrs.get("strides", [1, 1]), strict=True)
        ):
            # Core ML keeps a last window that starts past the input; ONNX/torch drop it.
            return "ceil_mode without padding and kernel < stride rounds differently in Core ML"
    return None


def _pool(kind: str):
    def emit(ctx, node: gs.Node) -> None:
        kh, kw = node.attrs["kernel_shape"]
        sh, sw = node.attrs.get("strides", [1, 1])
        pads = (
            [0, 0, 0, 0]
            if node.attrs.get("auto_pad") == "VALID"
            else list(node.attrs.get("pads", [0, 0, 0, 0]))
        )
        exclude_pad = not int(node.attrs.get("count_include_pad", 0))
        # INCLUDE_LAST_PIXEL: symmetric padding, output size rounded up like ceil_mode.
        padding_type = "INCLUDE_LAST_PIXEL" if int(node.attrs.get("ceil_mode", 0)) else "VALID"
        ctx.builder.add_pooling(
            node.name,
            kh,
            kw,
            sh,
            sw,
            kind,
            padding_type,
            ctx.blob(node.inputs[0]),
            node.outputs[0].name,
            exclude_pad_area=exclude_pad,
            padding_top=pads[0],
            padding_left=pads[1],
            padding_bottom=pads[2],
            padding_right=pads[3],
        )

    return emit


def _global(kind: str):
    def emit(ctx, node: gs.Node) -> None:
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
    """Restrictions: rank-4 NCHW input (2-D pooling)."""
    shape = node.inputs[0].shape
    if shape is not None and len(shape) != 4:
        return f"only 2-D global pooling maps to Core ML (input rank {len(shape)})"
    return None


emitters = [
    Emitter("MaxPool", _pool("MAX"), _pool_check, layer="pooling"),
    Emitter("AveragePool", _pool("AVERAGE"), _pool_check, layer="pooling"),
    Emitter("GlobalAveragePool", _global("AVERAGE"), _global_check, layer="pooling"),
    Emitter("GlobalMaxPool", _global("MAX"), _global_check, layer="pooling"),
]
