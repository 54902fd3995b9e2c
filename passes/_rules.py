"""DEPRECATED single-node rules (kept only until every rule file uses passes/_pattern.py).


A ``Rule`` matches one op type. ``check(node)`` returns a failure *reason* (or None) and
``build(b, node)`` returns the tensors that replace the node's outputs, made with a ``Builder``.
A ``RuleSet`` pass tries its rules in order on every node of a matching op type and keeps the
first rewrite whose new nodes the target supports — so the same table picks Clip where the
target has it and the ReLU-only form where it does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.passes._infra import Pass, PassContext, PassResult, Rewrite


class Builder:
    """Makes the replacement nodes for one matched node; nothing touches the graph until commit."""

    def __init__(self, graph: gs.Graph, anchor: gs.Node, tag: str) -> None:
        self.graph = graph
        self.anchor = anchor
        self.tag = tag
        self.nodes: list[gs.Node] = []
        self._count = 0

    @property
    def opset(self) -> int:
        return ir.default_opset(self.graph)

    def _name(self, what: str) -> str:
        self._count += 1
        return f"{self.anchor.name}/{self.tag}/{what}_{self._count}"

    def op(self, op_type: str, *inputs: gs.Tensor, _domain: str = "", **attrs: object) -> gs.Variable:
        """Add ``op_type(*inputs, **attrs)`` with one output; ``_domain`` cannot clash with attributes."""
        dtype = self.anchor.outputs[0].dtype if self.anchor.outputs else None
        out = gs.Variable(self._name(f"{op_type}_out"), dtype=dtype)
        node = gs.Node(
            op=op_type,
            name=self._name(op_type),
            attrs=dict(attrs),
            inputs=list(inputs),
            outputs=[out],
            domain=_domain or None,
        )
        self.nodes.append(node)
        return out

    def const(self, value: float | np.ndarray, dtype: type = np.float32) -> gs.Constant:
        return gs.Constant(
            self._name("const"), np.asarray(value, dtype=dtype).reshape(np.shape(value) or (1,))
        )

    def commit(self, outputs: Sequence[gs.Tensor]) -> None:
        """Put the new nodes in place of the anchor, keeping the anchor's output tensors (and names)."""
        old_outputs = list(self.anchor.outputs)
        if len(outputs) != len(old_outputs):
            raise ValueError(f"rule {self.tag} returned {len(outputs)} outputs for {len(old_outputs)}")
        self.anchor.inputs.clear()
        self.anchor.outputs.clear()
        self.graph.nodes.remove(self.anchor)
        for new, old in zip(outputs, old_outputs, strict=True):
            producer = next((n for n in self.nodes if any(t is new for t in n.outputs)), None)
            if producer is None:  # the rule passed a tensor through: keep the old name via Identity
                self.nodes.append(gs.Node("Identity", self._name("Identity"), inputs=[new], outputs=[old]))
                continue
            index = next(i for i, t in enumerate(producer.outputs) if t is new)
            old.dtype = old.dtype or new.dtype
            producer.outputs[index] = old
        self.graph.nodes.extend(self.nodes)


@dataclass(frozen=True)
class Rule:
    """``identity`` is the rewrite in algebra, e.g. ``hardtanh(x, 0, inf) -> relu(x)``."""

    name: str
    op: ir.OpKey
    identity: str
    build: Callable[[Builder, gs.Node], Sequence[gs.Tensor]]
    check: Callable[[gs.Node], str | None] = field(default=lambda node: None)


class RuleSet(Pass):
    """Applies a table of rules; subclasses set ``id`` and ``rules``."""

    rules: Sequence[Rule] = ()

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        by_op: dict[ir.OpKey, list[Rule]] = defaultdict(list)
        for rule in self.rules:
            by_op[rule.op].append(rule)
        modified = False
        for node in [n for n in graph.nodes if ir.op_key(n) in by_op]:
            for rule in by_op[ir.op_key(node)]:
                if rule.check(node) is not None:
                    continue
                builder = Builder(graph, node, rule.name)
                outputs = rule.build(builder, node)
                if any(ctx.capabilities.unsupported_reason(n) for n in builder.nodes):
                    continue  # the target lacks an op this form needs: try the next form
                source = (node.name,)
                builder.commit(outputs)
                for created in builder.nodes:
                    ctx.created_by[created.name] = f"{self.id}/{rule.name}"
                ctx.record(
                    Rewrite(
                        self.id,
                        rule.name,
                        source,
                        ir.op_label(node),
                        tuple(ir.op_label(n) for n in builder.nodes),
                    )
                )
                modified = True
                break
        if modified:
            graph.cleanup().toposort()
        return PassResult(graph, modified)

    @classmethod
    def explain(cls) -> list[str]:
        return [f"{rule.name}: {rule.identity}" for rule in cls.rules]
