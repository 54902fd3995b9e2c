"""Legalise a chain of views (Reshape, Transpose, ...) through tensors of a rank the target refuses.

Core ML tensors have rank <= 5, and vision transformers make rank-6 intermediates that are only a
view of their input: swin's window partition, mobilevit's unfold, DepthToSpace written out:

    t = Reshape(x, [B, H/w, w, W/w, w, C])        # rank 6
    u = Transpose(t, perm=[0, 1, 3, 2, 4, 5])     # rank 6
    y = Reshape(u, [-1, w, w, C])                 # rank 4

A transpose moves runs of axes: axes that stay adjacent and in order under the permutation move as
one (``coalesce``), and size-1 axes move nothing. Each transpose of the chain becomes a reshape that
merges those runs, the transpose of the merged axes, and consecutive reshapes become one:

    y = Reshape(Transpose(Reshape(x, [B*H/w, w, W/w, w*C]), perm=[0, 2, 1, 3]), [-1, w, w, C])

A reshape is a row-major reinterpretation of the same elements and so is a merge of adjacent axes,
so the rewrite moves every element exactly where the chain did. It fires only where the target
refuses a node of the chain, and only when it supports every node of the rewrite (the merged rank
fits); otherwise the chain stays as it is, the refusal with it, and the near miss says why.

A pass rather than a RuleSet: a chain has any length and mix of views, and ends where its last view
does. It records its rule (``lower::rank/merge_view_axes``) in the report, rule hits and near misses
as a RuleSet does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities
from bridgec.passes._infra import Pass, PassContext, PassResult, drop_nodes, register
from bridgec.passes._pattern import Builder, NearMiss, attribute_value

RULE = "merge_view_axes"
IDENTITY = (
    "transpose(reshape(x, S), p) -> transpose(reshape(x, S'), p')   (S': the axes p keeps adjacent "
    "and in order merged)"
)

# ops that only reinterpret their input's elements in a new shape (given static shapes)
_RESHAPES = frozenset(
    {("", "Reshape"), ("", "Flatten"), ("", "Squeeze"), ("", "Unsqueeze"), ("", "Identity")}
)
_TRANSPOSE = ("", "Transpose")


@dataclass(frozen=True)
class Merged:
    """A transpose of ``shape`` by ``perm`` with its runs of axes merged: the same data movement as
    reshape(x, in_shape) -> transpose(perm) -> a tensor of ``out_shape``."""

    in_shape: tuple[int, ...]
    perm: tuple[int, ...]
    out_shape: tuple[int, ...]


def coalesce(shape: Sequence[int], perm: Sequence[int]) -> Merged:
    """``perm`` on ``shape`` with size-1 axes dropped and every run of source axes that stays
    adjacent and in order in the output merged into one axis (the smallest rank that moves the
    elements the same way)."""
    kept = [axis for axis in range(len(shape)) if shape[axis] != 1]
    index = {axis: i for i, axis in enumerate(kept)}
    runs: list[list[int]] = []  # in output order, each a run of consecutive kept source axes
    for axis in (index[a] for a in perm if shape[a] != 1):
        if runs and runs[-1][-1] + 1 == axis:
            runs[-1].append(axis)
        else:
            runs.append([axis])
    size = [math.prod(shape[kept[a]] for a in run) for run in runs]
    by_source = sorted(range(len(runs)), key=lambda r: runs[r][0])
    position = {run: i for i, run in enumerate(by_source)}
    return Merged(
        tuple(size[r] for r in by_source), tuple(position[r] for r in range(len(runs))), tuple(size)
    )


def _static(tensor: gs.Tensor) -> tuple[int, ...] | None:
    shape = tensor.shape
    if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
        return None
    return tuple(int(d) for d in shape)


def _is_view(node: gs.Node) -> bool:
    return ir.op_key(node) in _RESHAPES or ir.op_key(node) == _TRANSPOSE


def chain_of(end: gs.Node) -> list[gs.Node]:
    """The views that compute ``end``'s output from the nearest tensor no view made, in order."""
    chain = [end]
    while True:
        x = chain[0].inputs[0] if chain[0].inputs else None
        producer = x.inputs[0] if x is not None and len(x.inputs) == 1 else None
        if producer is None or not _is_view(producer) or len(producer.outputs) != 1:
            return chain
        chain.insert(0, producer)


Steps = list[tuple[str, tuple[int, ...]]]


def steps(
    chain: Sequence[gs.Node], shape: tuple[int, ...], opset: int
) -> tuple[Steps, tuple[int, ...]] | str:
    """The chain on an input of ``shape`` as ("reshape", shape) and ("transpose", perm) steps
    (consecutive transposes composed into one) and its output shape; or why it cannot be read."""
    out: Steps = []
    for node in chain:
        if ir.op_key(node) != _TRANSPOSE:
            shape = _view_shape(node, shape, opset)
            if shape is None:
                return f"{node.name}: its output shape is not static"
            out.append(("reshape", shape))
            continue
        perm = attribute_value(node, "perm", opset)
        perm = tuple(int(p) % len(shape) for p in perm) if perm else tuple(reversed(range(len(shape))))
        shape = tuple(shape[p] for p in perm)
        if out and out[-1][0] == "transpose":  # y[i] = t[p2[i]] = x[p1[p2[i]]]
            first = out.pop()[1]
            perm = tuple(first[p] for p in perm)
        out.append(("transpose", perm))
    return out, shape


def _view_shape(node: gs.Node, shape: tuple[int, ...], opset: int) -> tuple[int, ...] | None:
    """The output shape of a reshaping view of an input of ``shape``: the graph's, else (shape
    inference cannot see through shapes computed with Shape, folded since) a constant Reshape's."""
    known = _static(node.outputs[0])
    if known is not None or ir.op_key(node) != ("", "Reshape") or len(node.inputs) < 2:
        return known
    target = ir.constant_value(node.inputs[1])
    if target is None:
        return None
    keep = not attribute_value(node, "allowzero", opset)
    dims = [
        shape[i] if d == 0 and keep and i < len(shape) else int(d) for i, d in enumerate(target.reshape(-1))
    ]
    if dims.count(-1) == 1:
        rest = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = math.prod(shape) // rest if rest else 0
    if any(d <= 0 for d in dims) or math.prod(dims) != math.prod(shape):
        return None
    return tuple(dims)


def _rewrite(
    op: Builder, x: gs.Tensor, shape: tuple[int, ...], plan: Steps, final: tuple[int, ...]
) -> gs.Tensor:
    """x through ``plan``'s steps with each transpose on merged axes; ``shape`` is x's."""
    have = shape  # the shape of the tensor made so far
    logical = shape  # the shape the original chain has at this point
    for kind, value in plan:
        if kind == "reshape":
            logical = value
            continue
        merged = coalesce(logical, value)
        logical = tuple(logical[p] for p in value)
        if merged.perm == tuple(range(len(merged.perm))):
            continue  # moves nothing: a reshape, which the next one (or the last) does
        if have != merged.in_shape:
            x = _reshape(op, x, merged.in_shape)
        x = op.Transpose(x, perm=list(merged.perm))
        x.shape = list(merged.out_shape)
        have = merged.out_shape
    if have != final:
        x = _reshape(op, x, final)
    return x


def _reshape(op: Builder, x: gs.Tensor, shape: tuple[int, ...]) -> gs.Tensor:
    # Reshape takes its shape as an input from opset 5
    y = op.Reshape(x, op.const(list(shape), np.int64)) if op.opset >= 5 else op.Reshape(x, shape=list(shape))
    y.shape = list(shape)
    return y


@register
class LegalizeRank(Pass):
    """Views through tensors of a rank the target refuses -> the same views on merged axes."""

    id = "lower::rank"
    plan_by_trial = True

    @classmethod
    def explain(cls) -> list[str]:
        return [f"{RULE}: {IDENTITY}"]

    def may_rewrite(self, graph: gs.Graph, capabilities: Capabilities) -> bool:
        return any(_is_view(n) and capabilities.unsupported_reason(n) for n in graph.nodes)

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        key = f"{self.id}/{RULE}"
        opset = ir.default_opset(graph)
        caps = ctx.capabilities
        graph_outputs = {id(t) for t in graph.outputs}
        hits, miss = 0, None
        removed: set[int] = set()
        # last views first: a chain is rewritten from its end, and what it leaves unused goes
        for end in reversed([n for n in graph.nodes if _is_view(n)]):
            out = end.outputs[0] if len(end.outputs) == 1 else None
            if out is None or (not out.outputs and id(out) not in graph_outputs):
                continue  # a chain rewritten from a later end left it unused
            chain = chain_of(end)
            refused = next(((n, why) for n in chain if (why := caps.unsupported_reason(n))), None)
            if refused is None:
                continue
            source = chain[0].inputs[0]
            shape = _static(source)
            read = (
                steps(chain, shape, opset) if shape is not None else f"{source.name}: its shape is not static"
            )
            if isinstance(read, str):
                miss = NearMiss(end.name, len(chain), read)
                continue
            builder = Builder(graph, end, RULE)
            y = _rewrite(builder, source, shape, *read)
            lacking = next(((n.op, why) for n in builder.nodes if (why := caps.unsupported_reason(n))), None)
            if lacking is not None:
                builder.discard()
                miss = NearMiss(
                    end.name,
                    len(chain),
                    f"{refused[0].name}: {refused[1]}; merged, {lacking[0]}: {lacking[1]}",
                )
                continue
            builder.commit([y], [end])
            ctx.applied(self.id, RULE, chain, end, builder.nodes, refused[1])
            removed.add(id(end))
            hits += 1
        ctx.tally(key, hits, miss)
        if hits:
            drop_nodes(graph, removed)
        return PassResult(graph, bool(hits))
