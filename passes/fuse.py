"""Fusions: two nodes that one node of the same op computes exactly.

``fuse::pad_into_conv``: TF "SAME" padding (timm's ``tf_`` models, Keras ports) pads the input by a
separate zero Pad, asymmetric for a stride-2 convolution, and convolves unpadded:

    y = Conv(Pad(x, [0, 0, t, l, 0, 0, b, r]), w, pads=[0, 0, 0, 0])

ONNX's Conv pads are per side (``[x1_begin, x2_begin, ..., x1_end, x2_end]``, and zero is what it pads
with), so the same padding goes into the convolution and the Pad layer disappears:

    y = Conv(x, w, pads=[t, l, b, r])

Exact: the convolution sees the same zero-padded input. Only a zero constant pad of the spatial
axes folds (a pad of N or C, another value or mode, or a negative pad is not a conv padding), and
only when every reader of the padded tensor is a convolution that pads explicitly (``auto_pad``
NOTSET), so the Pad's output is not needed elsewhere.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.passes._infra import Capabilities, Pass, PassContext, PassResult, Rewrite, drop_nodes, register
from bridgec.passes._pattern import NearMiss

RULE = "pad_into_conv"
IDENTITY = "conv(pad(x, p), w) -> conv(x, w, pads + p)   (zero constant pad of the spatial axes)"


def spatial_pads(pad: gs.Node, rank: int) -> list[int] | str:
    """The Pad's amounts as ``[begins..., ends...]`` of the spatial axes, or why it is not a conv padding."""
    mode = pad.attrs.get("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode != "constant":
        return f"a {mode} pad is not a zero padding"
    if "pads" in pad.attrs:  # Pad-1/2: attributes
        amounts, value, axes = np.asarray(pad.attrs["pads"]), pad.attrs.get("value", 0.0), None
    else:
        amounts = ir.constant_value(pad.inputs[1]) if len(pad.inputs) > 1 else None
        if amounts is None:
            return "its pads are not constant"
        value = 0.0
        if len(pad.inputs) > 2 and not ir.is_empty(pad.inputs[2]):
            constant = ir.constant_value(pad.inputs[2])
            if constant is None or constant.size != 1:
                return "its pad value is not a constant scalar"
            value = float(constant.reshape(()))
        axes = None
        if len(pad.inputs) > 3 and not ir.is_empty(pad.inputs[3]):
            axes = ir.constant_value(pad.inputs[3])
            if axes is None:
                return "its axes are not constant"
    if value != 0.0:
        return f"it pads with {value}, not 0"
    amounts = [int(a) for a in np.asarray(amounts).reshape(-1)]
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in np.asarray(axes).reshape(-1)]
    if len(amounts) != 2 * len(axes):
        return "its pads do not match its axes"
    begins, ends = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        begins[axis], ends[axis] = amounts[i], amounts[len(axes) + i]
    if any(a < 0 for a in begins + ends):
        return "a negative pad crops"
    if begins[0] or begins[1] or ends[0] or ends[1]:
        return "it pads the batch or channel axis"
    return begins[2:] + ends[2:]


@register
class PadIntoConv(Pass):
    """A zero Pad of the spatial axes read only by convolutions -> the convolutions' own padding."""

    id = "fuse::pad_into_conv"
    plan_by_trial = True

    @classmethod
    def explain(cls) -> list[str]:
        return [f"{RULE}: {IDENTITY}"]

    def may_rewrite(self, graph: gs.Graph, capabilities: Capabilities) -> bool:
        return any(ir.op_key(n) == ("", "Pad") for n in graph.nodes)

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        key = f"{self.id}/{RULE}"
        graph_outputs = {id(t) for t in graph.outputs}
        hits, miss = 0, None
        removed: set[int] = set()
        for pad in [n for n in graph.nodes if ir.op_key(n) == ("", "Pad")]:
            out = pad.outputs[0]
            readers = list(out.outputs)
            if not readers or id(out) in graph_outputs:
                continue
            if any(ir.op_key(r) != ("", "Conv") or r.inputs[0] is not out for r in readers):
                continue
            rank = len(out.shape) if out.shape is not None else None
            if rank is None or rank < 3:
                miss = NearMiss(pad.name, 1, "the padded tensor's rank is not known")
                continue
            found = spatial_pads(pad, rank)
            if isinstance(found, str):
                miss = NearMiss(pad.name, 1, found)
                continue
            if any(r.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET") for r in readers):
                miss = NearMiss(pad.name, 1, "a reading Conv has auto_pad")
                continue
            spatial = rank - 2
            for conv in readers:
                own = [int(p) for p in conv.attrs.get("pads", [0] * (2 * spatial))]
                conv.attrs["pads"] = [a + b for a, b in zip(own, found, strict=True)]
                conv.attrs.pop("auto_pad", None)
                conv.inputs[0] = pad.inputs[0]
            # the report shows the Pad lowered into the convolutions, which stay native themselves
            ctx.record(Rewrite(self.id, RULE, (pad.name,), ir.op_label(pad), (ir.op_label(readers[0]),)))
            pad.inputs.clear()
            pad.outputs.clear()
            removed.add(id(pad))
            hits += 1
        ctx.tally(key, hits, miss)
        if hits:
            drop_nodes(graph, removed)
        return PassResult(graph, bool(hits))
