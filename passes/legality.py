"""What a pipeline will make of each node, computed from its rules instead of by running it.

``plan(graph, capabilities, passes)`` walks the pipeline's passes in order for every node, as the
pipeline would meet it: a cleanup pass that deletes it (``Pass.removes``), the first ``RuleSet``
rule that rewrites it (the same ``RuleSet.first_rewrite`` the pass runs, on a scratch one-node copy
so the graph is never touched), ``custom::tag_custom_layers`` where the target refuses it, else the
target's own answer. The replacement nodes of a rule are planned through the passes after it.

    node (HardSwish)   ->  lowered: lower::kept_activations/hardswish_to_hardsigmoid -> HardSigmoid, Mul
    node (Gelu, iOS13) ->  custom: GeluLayer
    node (Identity)    ->  removed: cleanup::identities

A rewriting pass that is no rule set (``lower::resize``, ``lower::rank``, ``fuse::pad_into_conv``:
its rewrites need their context, a chain of views or a convolution reading a pad) runs once on a
copy of the graph, unless ``Pass.may_rewrite`` says it would leave the graph as it is; a node it
rewrites there is lowered by its rule, and what it puts in the node's place is planned through the
passes after it. Each pass sees the graph as it was given (as the rules see each node): what an
earlier pass would have changed first (folded sizes) is not seen, nor a rule whose pattern reaches
beyond the root. The pipeline's own result stays the authority.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities
from bridgec.core.ops.status import CUSTOM, LOWERED, NATIVE, REMOVED, UNSUPPORTED
from bridgec.passes._infra import Pass, PassContext, _leaves
from bridgec.passes._pattern import RuleSet
from bridgec.passes.custom import CheckTargetLegal, TagCustomLayers, custom_class_name, custom_layer_refusal

STATUSES = (NATIVE, LOWERED, REMOVED, CUSTOM, UNSUPPORTED)
MAX_DEPTH = 4  # rules whose replacements are rewritten again, at most this deep


@dataclass(frozen=True)
class NodePlan:
    """What the pipeline makes of one node."""

    node: str
    op: str  # the node's op label
    status: str  # one of STATUSES
    rule: str = ""  # "pass/rule" that replaces it (lowered), or the pass that deletes it (removed)
    creates: tuple[str, ...] = ()  # op labels the rule puts in its place, in the order it makes them
    custom_class: str = ""  # the custom layer it becomes (custom)
    reason: str = ""  # why the target cannot run it as it is (custom, unsupported)
    parts: tuple[NodePlan, ...] = ()  # the plans of a rule's replacement nodes

    def custom_classes(self) -> set[str]:
        """The custom layers this node ends up as, through its replacements too."""
        found = {self.custom_class} if self.status == CUSTOM else set()
        for part in self.parts:
            found |= part.custom_classes()
        return found


def plan(
    graph: gs.Graph,
    capabilities: Capabilities,
    passes: Pass | Iterable[Pass],
    *,
    allow_missing_kernels: bool = False,
) -> list[NodePlan]:
    """The plan of every node of ``graph`` (in graph order) through ``passes`` (a Pipeline, or a list
    of passes) for ``capabilities``."""
    leaves = _leaves([passes] if isinstance(passes, Pass) else passes)
    removed_at: dict[
        int, tuple[int, str]
    ] = {}  # node id -> (pass position, pass id) of the first deleting it
    for position, p in enumerate(leaves):
        try:
            deleted = p.removes(graph)
        except Exception:  # noqa: BLE001 - the pass fails on this graph when it runs, and says why
            deleted = set()
        for node_id in deleted:
            removed_at.setdefault(node_id, (position, p.id))
    rewritten_at: dict[int, _Trial] = {}  # node id -> the first trial rewriting it
    for position, p in enumerate(leaves):
        for node_id, found in _trial(p, position, graph, capabilities).items():
            rewritten_at.setdefault(node_id, found)
    planner = _Planner(capabilities, leaves, ir.default_opset(graph), allow_missing_kernels)
    plans = []
    for node in graph.nodes:
        try:
            plans.append(
                planner.node(node, graph, 0, removed_at.get(id(node)), trial=rewritten_at.get(id(node)))
            )
        except Exception as exc:  # noqa: BLE001 - a capability check that fails here fails the run too
            why = f"{type(exc).__name__}: {exc}"
            plans.append(NodePlan(node.name, ir.op_label(node), UNSUPPORTED, reason=why))
    return plans


def custom_layers(plans: Iterable[NodePlan]) -> list[str]:
    """The custom layer classes a plan leaves in the model, sorted."""
    return sorted(set().union(*(p.custom_classes() for p in plans)))


class _Planner:
    def __init__(
        self, capabilities: Capabilities, passes: Sequence[Pass], opset: int, allow_missing_kernels: bool
    ) -> None:
        self.capabilities = capabilities
        self.passes = passes
        self.opset = opset
        self.allow_missing_kernels = allow_missing_kernels

    def node(
        self,
        node: gs.Node,
        graph: gs.Graph,
        start: int,
        removed: tuple[int, str] | None,
        depth: int = 0,
        trial: _Trial | None = None,
    ) -> NodePlan:
        label = ir.op_label(node)
        scratch = _scratch(node, graph)
        for position in range(start, len(self.passes)):
            p = self.passes[position]
            if removed is not None and removed[0] == position:
                return NodePlan(node.name, label, REMOVED, rule=removed[1])
            if trial is not None and trial.position == position:
                parts = ()
                if depth < MAX_DEPTH:
                    parts = tuple(
                        self.node(n, trial.graph, position + 1, None, depth + 1) for n in trial.nodes
                    )
                return NodePlan(
                    node.name, label, LOWERED, rule=trial.rule, creates=trial.creates, parts=parts
                )
            if isinstance(p, RuleSet) and depth < MAX_DEPTH:
                try:
                    found = p.first_rewrite(scratch.nodes[0], scratch, self.capabilities, self.opset)
                except Exception:  # noqa: BLE001 - a rule that fails here fails the run, which says why
                    found = None
                if found is not None:
                    rule, match, builder, outputs = found
                    builder.commit(outputs, match.nodes)
                    parts = tuple(self.node(n, scratch, position + 1, None, depth + 1) for n in builder.nodes)
                    creates = tuple(ir.op_label(n) for n in builder.nodes)
                    return NodePlan(
                        node.name, label, LOWERED, rule=f"{p.id}/{rule.name}", creates=creates, parts=parts
                    )
            if isinstance(p, TagCustomLayers) and ir.op_key(node)[0] != ir.CUSTOM_DOMAIN:
                reason = self.capabilities.unsupported_reason(scratch.nodes[0])
                if reason and not custom_layer_refusal(
                    scratch.nodes[0], self.capabilities, self.allow_missing_kernels
                ):
                    return NodePlan(
                        node.name, label, CUSTOM, custom_class=custom_class_name(node), reason=reason
                    )
        if ir.op_key(node)[0] == ir.CUSTOM_DOMAIN:  # already a custom layer
            return NodePlan(node.name, label, CUSTOM, custom_class=node.op)
        reason = self.capabilities.unsupported_reason(node)
        return NodePlan(node.name, label, UNSUPPORTED if reason else NATIVE, reason=reason or "")


@dataclass(frozen=True)
class _Trial:
    """A rewrite a pass made of a node on a copy of the graph."""

    position: int  # the pass's position in the pipeline
    rule: str  # "pass/rule"
    creates: tuple[str, ...]  # op labels it put in the node's place
    nodes: tuple[gs.Node, ...]  # those nodes, in ``graph``
    graph: gs.Graph  # the copy the pass rewrote


def _trial(p: Pass, position: int, graph: gs.Graph, capabilities: Capabilities) -> dict[int, _Trial]:
    """What the rewriting pass ``p``, no rule set, makes of the nodes of ``graph``: run on a copy,
    by the ids of the nodes it rewrote (its rewrites log names them)."""
    planned_otherwise = (RuleSet, TagCustomLayers, CheckTargetLegal)  # rules, custom layers, a check
    if isinstance(p, planned_otherwise) or type(p).removes is not Pass.removes:  # cleanup: ``removes``
        return {}
    if not p.plan_by_trial:
        return {}  # e.g. a plugin's pass: its code runs once, in the pipeline, where its errors name it
    try:
        if not p.may_rewrite(graph, capabilities):
            return {}
        copy = graph.copy()
        ctx = PassContext(capabilities=capabilities)
        p.call(copy, ctx)
    except Exception:  # noqa: BLE001 - the pass fails on this graph when it runs, and says why
        return {}
    ids = {n.name: id(n) for n in graph.nodes}
    ops = {n.name: ir.op_label(n) for n in graph.nodes}
    found: dict[int, _Trial] = {}
    for rewrite in ctx.rewrites:
        key = f"{rewrite.pass_id}/{rewrite.rule}"
        sources = set(rewrite.source_nodes)
        # made by this rewrite (a builder names its nodes after the root), or rewritten in place
        made = tuple(
            n
            for n in copy.nodes
            if (ctx.created_by.get(n.name) == key and any(n.name.startswith(f"{s}/") for s in sources))
            or (n.name in sources and ir.op_label(n) != ops.get(n.name))
        )
        creates = tuple(ir.op_label(n) for n in made) if made else rewrite.created_ops
        for name in rewrite.source_nodes:
            if name in ids:
                found.setdefault(ids[name], _Trial(position, key, creates, made, copy))
    return found


def _scratch(node: gs.Node, graph: gs.Graph) -> gs.Graph:
    """A one-node graph holding a copy of ``node``: its own input and output tensors (constants keep
    their values, for rule checks), so trying rules never touches the real graph."""
    inputs = [_copy(t) for t in node.inputs]
    outputs = [gs.Variable(t.name, dtype=t.dtype, shape=t.shape) for t in node.outputs]
    copy = gs.Node(node.op, node.name, dict(node.attrs), inputs, outputs, domain=node.domain)
    variables = [t for t in inputs if isinstance(t, gs.Variable) and t.name]
    return gs.Graph(
        nodes=[copy],
        inputs=variables,
        outputs=outputs,
        opset=graph.opset,
        import_domains=graph.import_domains,
    )


def _copy(tensor: gs.Tensor) -> gs.Tensor:
    if ir.is_empty(tensor):
        return gs.Variable.empty()
    value = ir.constant_value(tensor)  # a constant tensor, or the output of a Constant node
    if value is not None:
        return gs.Constant(tensor.name, value)
    return gs.Variable(tensor.name, dtype=tensor.dtype, shape=tensor.shape)


__all__ = ["MAX_DEPTH", "STATUSES", "NodePlan", "custom_layers", "plan"]
