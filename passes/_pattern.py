"""Pattern rewrites written as two Python functions over an op builder.

    def pattern(op, x, lo, hi):                 # what to find
        return op.HardTanh(x, min_value=lo, max_value=hi, _domain="ai.bridgec")

    def relu(op, x, lo, hi):                    # what to put instead
        return op.Relu(x)

    Rule("hardtanh_to_relu", pattern, relu, check=lambda lo, hi: None if (lo, hi) == (0, inf) else "not [0, inf)")

Parameters bind by name. A parameter used as an op input matches any tensor (the same tensor
wherever it appears); used as an attribute value it binds that attribute (ONNX's schema default
when the node omits it). A literal attribute value must be equal. ``check`` and the replacement
receive the bound values by parameter name; ``check`` returns a failure *reason* or None.
``commute=True`` also tries swapped operands of commutative ops. Keywords starting with ``_``
(``_domain``, ``_outputs``) are the builder's own, so they never collide with ONNX attributes.

A ``RuleSet`` pass indexes candidate nodes by the pattern root's op type, tries its rules in
order, and keeps the first rewrite whose new nodes the target supports. For a rule that matched
nothing, the pass records the closest near-miss (the attempt that matched the most pattern
nodes, and why it stopped) for ``--stats``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir, ops
from bridgec.core.capabilities import Capabilities
from bridgec.core.words import plural
from bridgec.passes._infra import Pass, PassContext, PassResult, drop_nodes

COMMUTATIVE = frozenset({"Add", "Mul", "Max", "Min", "Sum", "Mean", "Equal", "And", "Or", "Xor"})

# --- patterns -------------------------------------------------------------------------------------


@dataclass(eq=False)
class Var:
    """A pattern parameter: binds a tensor (as an input) or an attribute value."""

    name: str


@dataclass(eq=False)
class OpPattern:
    op: str
    domain: str
    inputs: list[Any]  # Var | ValuePattern | None (an omitted optional input)
    attrs: dict[str, Any]
    outputs: int

    def key(self) -> ir.OpKey:
        return (self.domain, self.op)


@dataclass(eq=False)
class ValuePattern:
    producer: OpPattern
    index: int


class _PatternBuilder:
    """The ``op`` a pattern function receives: ``op.Relu(x)`` records an OpPattern."""

    def __getattr__(self, op_type: str) -> Callable[..., Any]:
        if not op_type[:1].isupper():
            raise AttributeError(op_type)

        def make(*inputs: Any, _domain: str = "", _outputs: int = 1, **attrs: Any) -> Any:
            node = OpPattern(op_type, _domain, list(inputs), attrs, _outputs)
            values = tuple(ValuePattern(node, i) for i in range(_outputs))
            return values if _outputs > 1 else values[0]

        return make


@functools.lru_cache(maxsize=1024)  # asked once per rewrite; inspect.signature is 6% of a pass
def _parameters(fn: Callable) -> tuple[str, ...]:
    return tuple(inspect.signature(fn).parameters)


def _call_by_name(fn: Callable, bound: dict[str, Any], *leading: Any) -> Any:
    names = _parameters(fn)[len(leading) :]
    return fn(*leading, **{n: bound[n] for n in names})


# --- replacement builder ----------------------------------------------------------------------------


class Builder:
    """The ``op`` a replacement receives: ``op.Relu(x)`` makes a node; nothing is in the graph until commit."""

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

    def __getattr__(self, op_type: str) -> Callable[..., Any]:
        if not op_type[:1].isupper():
            raise AttributeError(op_type)
        return lambda *inputs, **attrs: self.op(op_type, *inputs, **attrs)

    def op(
        self, op_type: str, *inputs: gs.Tensor | None, _domain: str = "", _outputs: int = 1, **attrs: Any
    ) -> Any:
        """Add ``op_type(*inputs, **attrs)``; None stands for an omitted optional input."""
        dtype = self.anchor.outputs[0].dtype if self.anchor.outputs else None
        outs = [gs.Variable(self._name(f"{op_type}_out"), dtype=dtype) for _ in range(_outputs)]
        node = gs.Node(
            op=op_type,
            name=self._name(op_type),
            attrs=dict(attrs),
            inputs=[gs.Variable.empty() if t is None else t for t in inputs],
            outputs=outs,
            domain=_domain or None,
        )
        self.nodes.append(node)
        return tuple(outs) if _outputs > 1 else outs[0]

    def const(self, value: float | np.ndarray, dtype: type = np.float32) -> gs.Constant:
        array = np.asarray(value, dtype=dtype)
        return gs.Constant(self._name("const"), array.reshape(array.shape or (1,)))

    def discard(self) -> None:
        """Unhook the nodes built but not committed from the tensors they read: a node joins its
        inputs' consumers when it is made, and passes read consumers (a Pad's readers, a dead value)."""
        for node in self.nodes:
            node.inputs.clear()
            node.outputs.clear()
        self.nodes.clear()

    def commit(self, outputs: Sequence[gs.Tensor], matched: Sequence[gs.Node] = ()) -> None:
        """Put the new nodes in place of the matched ones, keeping the root's output tensors (and names)."""
        old_outputs = list(self.anchor.outputs)
        if len(outputs) != len(old_outputs):
            raise ValueError(f"rule {self.tag} returned {plural(outputs, 'output')} for {len(old_outputs)}")
        for node in [self.anchor, *[n for n in matched if n is not self.anchor]]:
            # Detached, not removed: the rule set drops detached nodes in one sweep (removing one
            # by one from the node list would make a pass quadratic in the number of rewrites).
            node.inputs.clear()
            node.outputs.clear()
        for new, old in zip(outputs, old_outputs, strict=True):
            producer = next((n for n in self.nodes if any(t is new for t in n.outputs)), None)
            if producer is None:  # the rule passed a tensor through: keep the old name via Identity
                self.nodes.append(gs.Node("Identity", self._name("Identity"), inputs=[new], outputs=[old]))
                continue
            index = next(i for i, t in enumerate(producer.outputs) if t is new)
            old.dtype = old.dtype or new.dtype
            producer.outputs[index] = old
        self.graph.nodes.extend(self.nodes)


# --- matching ----------------------------------------------------------------------------------------


@dataclass
class Match:
    root: gs.Node
    bound: dict[str, Any]
    nodes: list[gs.Node]


@dataclass
class NearMiss:
    node: str
    matched: int  # pattern nodes matched before the failure
    reason: str


class _Failure(Exception):
    def __init__(self, reason: str, matched: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.matched = matched


def attribute_value(node: gs.Node, name: str, opset: int) -> Any:
    """The node's attribute, or its default (a bridgec op's declared one, ONNX's schema's), else None."""
    if name in node.attrs:
        return node.attrs[name]
    try:
        return ops.default(node.op, name, ir.op_key(node)[0], opset)
    except KeyError:
        return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


class Matcher:
    def __init__(
        self, root: OpPattern, commute: bool, opset: int, graph_outputs: frozenset[int] = frozenset()
    ) -> None:
        self.root = root
        self.commute = commute
        self.opset = opset
        self.graph_outputs = graph_outputs  # ids of the graph's output tensors

    def match(self, node: gs.Node) -> Match:
        bound: dict[str, Any] = {}
        nodes: list[gs.Node] = []
        self._node(self.root, node, bound, nodes)
        # interior nodes must not feed anything outside the match: they are about to disappear
        inside = {id(n) for n in nodes}
        for interior in nodes[1:]:
            for tensor in interior.outputs:
                if id(tensor) in self.graph_outputs or any(id(c) not in inside for c in tensor.outputs):
                    raise _Failure(
                        f"{interior.name}'s output {tensor.name} is also used outside the pattern", len(nodes)
                    )
        return Match(node, bound, nodes)

    def _node(self, pattern: OpPattern, node: gs.Node, bound: dict, nodes: list) -> None:
        if ir.op_key(node) != pattern.key():
            raise _Failure(f"{node.name} is {ir.op_label(node)}, the pattern needs {pattern.op}", len(nodes))
        for name, want in pattern.attrs.items():
            have = attribute_value(node, name, self.opset)
            if isinstance(want, Var):
                if want.name in bound and not _same(bound[want.name], have):
                    raise _Failure(
                        f"{node.name}.{name} = {have!r}, bound to {bound[want.name]!r} elsewhere", len(nodes)
                    )
                bound[want.name] = have
            elif not _same(have, want):
                raise _Failure(f"{node.name}.{name} = {have!r}, the pattern needs {want!r}", len(nodes))
        nodes.append(node)
        orders = [pattern.inputs]
        if self.commute and pattern.op in COMMUTATIVE and len(pattern.inputs) == 2:
            orders.append(pattern.inputs[::-1])
        failure: _Failure | None = None
        for order in orders:
            trial_bound, trial_nodes = dict(bound), list(nodes)
            try:
                self._inputs(order, node, trial_bound, trial_nodes)
            except _Failure as exc:
                failure = exc if failure is None or exc.matched > failure.matched else failure
                continue
            bound.clear()
            bound.update(trial_bound)
            nodes[:] = trial_nodes
            return
        raise failure  # type: ignore[misc]

    def _inputs(self, patterns: list[Any], node: gs.Node, bound: dict, nodes: list) -> None:
        actual = list(node.inputs)
        while actual and ir.is_empty(actual[-1]) and len(actual) > len(patterns):
            actual.pop()
        if len(actual) > len(patterns) and any(not ir.is_empty(t) for t in actual[len(patterns) :]):
            raise _Failure(
                f"{node.name} has {plural(actual, 'input')}, the pattern {len(patterns)}", len(nodes)
            )
        for i, want in enumerate(patterns):
            have = actual[i] if i < len(actual) else None
            if want is None:
                if not ir.is_empty(have):
                    raise _Failure(f"{node.name} input {i} is given, the pattern omits it", len(nodes))
            elif isinstance(want, Var):
                if ir.is_empty(have):
                    raise _Failure(f"{node.name} input {i} is omitted", len(nodes))
                if want.name in bound and bound[want.name] is not have:
                    raise _Failure(f"{node.name} input {i} is not the same tensor as {want.name}", len(nodes))
                bound[want.name] = have
            else:
                if ir.is_empty(have) or len(have.inputs) != 1:
                    raise _Failure(
                        f"{node.name} input {i} is not produced by a {want.producer.op}", len(nodes)
                    )
                producer = have.inputs[0]
                if producer.outputs.index(have) != want.index:
                    raise _Failure(
                        f"{node.name} input {i} is output {producer.outputs.index(have)} of "
                        f"{producer.name}, the pattern needs output {want.index}",
                        len(nodes),
                    )
                if any(n is producer for n in nodes):
                    continue  # already matched through another path (a DAG pattern)
                self._node(want.producer, producer, bound, nodes)


# --- rules and rule sets ---------------------------------------------------------------------------


@dataclass(eq=False)
class Rule:
    """``name``: the rule's id in reports; ``identity``: the rewrite in algebra, one line.

    ``legalize=True`` fires only where the target cannot run the matched root as it is (a lowering
    that is not an improvement on a supported op); otherwise the rule always fires when it matches.
    """

    name: str
    pattern: Callable[..., Any]
    replacement: Callable[..., Any]
    check: Callable[..., str | None] | None = None
    identity: str = ""
    commute: bool = False
    legalize: bool = False

    @cached_property
    def roots(self) -> tuple[OpPattern, ...]:
        params = _parameters(self.pattern)
        if not params:
            raise ValueError(f"rule {self.name}: the pattern function takes the op builder first")
        variables = {name: Var(name) for name in params[1:]}
        out = self.pattern(_PatternBuilder(), *variables.values())
        outs = out if isinstance(out, tuple) else (out,)
        if not all(isinstance(v, ValuePattern) for v in outs) or len({id(v.producer) for v in outs}) != 1:
            raise ValueError(f"rule {self.name}: the pattern must return outputs of one op (one or more)")
        if [v.index for v in outs] != list(range(outs[0].producer.outputs)):
            raise ValueError(f"rule {self.name}: a multi-output pattern returns all outputs in order")
        return (outs[0].producer,)

    @property
    def op(self) -> ir.OpKey:
        return self.roots[0].key()


class RuleSet(Pass):
    """Applies a table of rules; subclasses set ``id`` and ``rules`` (or pass ``rules=``)."""

    id = "rules::inline"
    rules: Sequence[Rule] = ()

    def __init__(self, rules: Sequence[Rule] | None = None, *, name: str | None = None) -> None:
        if rules is not None:
            self.rules = tuple(rules)
        if name:
            self.id = name

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        by_op = self.by_op()
        opset = ir.default_opset(graph)
        graph_outputs = frozenset(id(t) for t in graph.outputs)
        modified = False
        hits: dict[str, int] = {rule.name: 0 for rule in self.rules}
        misses: dict[str, NearMiss] = {}
        candidates = [n for n in graph.nodes if ir.op_key(n) in by_op]  # indexed by op type: no full scans
        removed: set[int] = set()
        for node in candidates:
            if id(node) in removed:
                continue
            found = self.first_rewrite(node, graph, ctx.capabilities, opset, graph_outputs, misses)
            if found is not None:
                rule, match, builder, outputs = found
                because = ctx.capabilities.unsupported_reason(node) or ""  # asked before the node goes
                builder.commit(outputs, match.nodes)
                ctx.applied(self.id, rule.name, match.nodes, node, builder.nodes, because)
                removed.update(id(n) for n in match.nodes)
                hits[rule.name] += 1
                modified = True
        for name, count in hits.items():
            ctx.tally(f"{self.id}/{name}", count, misses.get(name))
        if modified:
            drop_nodes(graph, removed)
        return PassResult(graph, modified)

    def by_op(self) -> dict[ir.OpKey, list[Rule]]:
        """The rules by their pattern root's op key, in order: made once per ``rules`` tuple, since
        ``first_rewrite`` asks for every node it tries (the legality plan tries each node against
        every rule set: 12,000 tries on a vision transformer)."""
        rules = self.rules
        cached = self.__dict__.get("_by_op")
        if cached is not None and cached[0] is rules:
            return cached[1]
        grouped: dict[ir.OpKey, list[Rule]] = defaultdict(list)
        for rule in rules:
            grouped[rule.op].append(rule)
        found = dict(grouped)  # a lookup of an op without rules must not add it
        if isinstance(rules, tuple):  # a list could change in place under the cache
            self._by_op = (rules, found)
        return found

    def first_rewrite(
        self,
        node: gs.Node,
        graph: gs.Graph,
        capabilities: Capabilities,
        opset: int,
        graph_outputs: frozenset[int] = frozenset(),
        misses: dict[str, NearMiss] | None = None,
    ) -> tuple[Rule, Match, Builder, list[gs.Tensor]] | None:
        """The first rule that rewrites ``node`` (its match, and its replacement built but not yet
        committed), or None; why each rule that matched did not fire goes to ``misses``."""
        misses = {} if misses is None else misses
        for rule in self.by_op().get(ir.op_key(node), ()):
            try:
                match = Matcher(rule.roots[0], rule.commute, opset, graph_outputs).match(node)
            except _Failure as failure:
                _note(misses, rule.name, NearMiss(node.name, failure.matched, failure.reason))
                continue
            if rule.legalize and capabilities.unsupported_reason(node) is None:
                _note(misses, rule.name, NearMiss(node.name, len(match.nodes), "the target runs it as it is"))
                continue
            reason = _call_by_name(rule.check, match.bound) if rule.check else None
            if reason:
                _note(misses, rule.name, NearMiss(node.name, len(match.nodes), reason))
                continue
            builder = Builder(graph, node, rule.name)
            out = _call_by_name(rule.replacement, match.bound, builder)
            outputs = list(out) if isinstance(out, (tuple, list)) else [out]
            lacking = [(n.op, capabilities.unsupported_reason(n)) for n in builder.nodes]
            lacking = [(op, why) for op, why in lacking if why]
            if lacking:  # the target lacks an op this form needs: try the next form
                builder.discard()
                why = f"target lacks {lacking[0][0]}: {lacking[0][1]}"
                _note(misses, rule.name, NearMiss(node.name, len(match.nodes), why))
                continue
            return rule, match, builder, outputs
        return None

    @classmethod
    def explain(cls) -> list[str]:
        return [f"{rule.name}: {rule.identity}" for rule in cls.rules]


def _note(misses: dict[str, NearMiss], rule: str, miss: NearMiss) -> None:
    if rule not in misses or miss.matched > misses[rule].matched:
        misses[rule] = miss


def const_scalar(tensor: gs.Tensor) -> float | None:
    """A constant scalar tensor's value (for checks), else None."""
    value = ir.constant_value(tensor) if tensor is not None and not ir.is_empty(tensor) else None
    if value is None or value.size != 1:
        return None
    return float(value.reshape(()))
