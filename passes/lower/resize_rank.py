"""Legalise a Resize / Upsample of a rank-1 or rank-2 tensor: Core ML resizes the last two axes of a
rank 3..5 tensor, so view the input as rank 4 with unit leading axes, resize there, view back.

    y = Resize(x, roi, scales, sizes)                          # x: [W] or [H, W]
    y = Squeeze(Resize(Unsqueeze(x, lead), roi', scales', sizes'), lead)
                                                               # lead: [0, 1, 2] or [0, 1]

scales' and sizes' are 1 on the added axes, roi' spans them whole (0 to 1), and an ``axes``
attribute (opset 18) moves by the added axes instead. ONNX's resize is separable, one 1-D resize per
axis, and on an axis of length 1 kept at length 1 every mode and coordinate transform reads its only
pixel (the source coordinate is 0, or is clamped to it; cubic weighs it 1), so the added axes change
nothing: exact. The resize inside is the node's own op and attributes, so it goes through the same
capability check: where the target refuses it too (cubic, antialias, a grid no layer samples), the
pass leaves the node and the near miss says why (``lower::resize`` may then make it MatMuls).

A pass rather than a RuleSet for the reason ``lower::resize`` is one: Resize's inputs come in some
eight arities across opsets, any of them omitted or empty. It records its rule
(``lower::resize_rank/resize_as_rank4``) in the report, rule hits and near misses as a RuleSet does.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities
from bridgec.passes._infra import Pass, PassContext, PassResult, drop_nodes, register
from bridgec.passes._pattern import Builder, NearMiss
from bridgec.passes.lower.normalization import view_axes

RULE = "resize_as_rank4"
IDENTITY = "resize(x) -> squeeze(resize(unsqueeze(x, lead), scales: 1 on lead), lead)   (x of rank 1, 2)"
RANK = 4  # the view's rank: the NCHW layout both formats' resize takes
RUNS_IT = "the target runs it as it is"

OPS = frozenset({("", "Resize"), ("", "Upsample")})


def _present(node: gs.Node, index: int) -> bool:
    return index < len(node.inputs) and not ir.is_empty(node.inputs[index])


def _widened(node: gs.Node, index: int, lead: int) -> np.ndarray | None | str:
    """Input ``index`` (1 roi, 2 scales, 3 sizes; Upsample and Resize-10 take scales at 1) for the
    rank-4 view: unit scales, unit sizes and whole roi spans on the ``lead`` added axes; None where
    the node omits it (or gives it empty, as opsets 11-12 do), or why it cannot be read."""
    if not _present(node, index):
        return None
    value = ir.constant_value(node.inputs[index])
    if value is None:
        return "its scales/sizes/roi must be constants (cleanup::fold_constants folds sizes from shapes)"
    if not value.size or "axes" in node.attrs:  # empty: not given; axes: per listed axis, unchanged
        return value
    if node.op == "Resize" and index == 1 and len(node.inputs) > 2:  # roi: starts, then ends
        starts, ends = np.split(value.reshape(-1), 2)
        pad = np.zeros(lead, value.dtype)
        return np.concatenate([pad, starts, pad + 1, ends]).astype(value.dtype)
    return np.concatenate([np.ones(lead, value.dtype), value.reshape(-1)]).astype(value.dtype)


def _attrs(node: gs.Node, rank: int, lead: int) -> dict:
    attrs = dict(node.attrs)
    if "axes" in attrs:  # opset 18: the listed axes, counted in the view
        attrs["axes"] = [int(a) % rank + lead for a in attrs["axes"]]
    if "scales" in attrs:  # Upsample-7's attribute
        attrs["scales"] = [1.0] * lead + [float(s) for s in attrs["scales"]]
    return attrs


def _shaped(tensor: gs.Tensor, shape) -> gs.Tensor:
    # the resize's capability check reads the view's shape: the new tensors carry theirs
    tensor.shape = None if shape is None else [1] * (RANK - len(shape)) + list(shape)
    return tensor


def rank4_view(node: gs.Node, graph: gs.Graph, capabilities: Capabilities) -> tuple[Builder, gs.Tensor] | str:
    """The rank-4 view of a Resize/Upsample ``node`` the target refuses (its nodes built, not yet
    committed, and its output), or why there is none."""
    if capabilities.unsupported_reason(node) is None:
        return RUNS_IT
    x = node.inputs[0]
    if x.shape is None:
        return "the input's rank is unknown"
    rank = len(x.shape)
    if rank not in (1, 2):
        return f"the input has rank {rank}, not 1 or 2"
    lead = RANK - rank
    values = [_widened(node, i, lead) for i in range(1, len(node.inputs))]
    reason = next((v for v in values if isinstance(v, str)), None)
    if reason:
        return reason
    op = Builder(graph, node, RULE)
    axes = list(range(lead))
    view = _shaped(view_axes(op, "Unsqueeze", x, axes), x.shape)
    inputs = [None if v is None else op.const(v, v.dtype) for v in values]
    resized = _shaped(op.op(node.op, view, *inputs, **_attrs(node, rank, lead)), node.outputs[0].shape)
    y = view_axes(op, "Squeeze", resized, axes)
    refused = next(((n.op, why) for n in op.nodes if (why := capabilities.unsupported_reason(n))), None)
    if refused is not None:
        op.discard()
        return f"as rank 4, the target lacks {refused[0]} too: {refused[1]}"
    return op, y


def legalises(node: gs.Node, graph: gs.Graph, capabilities: Capabilities) -> bool:
    """Does ``lower::resize_rank`` make ``node`` legal? (The graph is left as it is.)"""
    found = rank4_view(node, graph, capabilities)
    if isinstance(found, str):
        return False
    found[0].discard()
    return True


@register
class LegalizeResizeRank(Pass):
    """Resize/Upsample of a rank-1 or rank-2 tensor -> the same resize of a rank-4 view of it."""

    id = "lower::resize_rank"
    plan_by_trial = True
    after = ("cleanup::fold_constants",)  # sizes computed from Shape are constants by then

    @classmethod
    def explain(cls) -> list[str]:
        return [f"{RULE}: {IDENTITY}"]

    def may_rewrite(self, graph: gs.Graph, capabilities: Capabilities) -> bool:
        return any(ir.op_key(n) in OPS and capabilities.unsupported_reason(n) for n in graph.nodes)

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        hits, miss = 0, None
        removed: set[int] = set()
        for node in [n for n in graph.nodes if ir.op_key(n) in OPS]:
            because = ctx.capabilities.unsupported_reason(node) or ""  # asked before the node goes
            found = rank4_view(node, graph, ctx.capabilities)
            if isinstance(found, str):
                # why a node the target refuses stays beats "the target runs it"
                if miss is None or found != RUNS_IT:
                    miss = NearMiss(node.name, 1, found)
                continue
            builder, y = found
            builder.commit([y], [node])
            ctx.applied(self.id, RULE, [node], node, builder.nodes, because)
            removed.add(id(node))
            hits += 1
        ctx.tally(f"{self.id}/{RULE}", hits, miss)
        if hits:
            drop_nodes(graph, removed)
        return PassResult(graph, bool(hits))
