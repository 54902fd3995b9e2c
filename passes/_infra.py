"""Pass infrastructure: what a pass is, what it returns, how pipelines run it, and the registry.

A pass is a small class with a namespaced ``id`` (``cleanup::dead_nodes``) and
``call(graph, ctx) -> PassResult``. The pipeline, not the pass, owns repetition and the
checks that run after every pass, so no pass writes its own ``while changed:`` loop.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities
from bridgec.core.errors import BridgecError, ConversionError, UsageError
from bridgec.core.state import state_of


@dataclass(frozen=True)
class Rewrite:
    """One recorded decision: which pass (and rule) replaced which source nodes with what."""

    pass_id: str
    rule: str
    source_nodes: tuple[str, ...]
    source_op: str
    created_ops: tuple[str, ...]
    because: str = ""  # why the target refused the source as it was ("" where it did not: an optimisation)


class Instrument(Protocol):
    """Something that looks at the graph after every pass: checks, dumps, printing, timing."""

    def after_pass(self, p: Pass, result: PassResult, ctx: PassContext) -> None: ...


@dataclass
class PassContext:
    """State shared by the passes of one pipeline run: the target, and the log of what happened."""

    capabilities: Capabilities
    pipeline: str = "custom pipeline"
    rewrites: list[Rewrite] = field(default_factory=list)
    removed_by: dict[str, str] = field(default_factory=dict)  # node name -> pass id that removed it
    created_by: dict[str, str] = field(default_factory=dict)  # node name -> pass id (and rule) that made it
    timings: list[tuple[str, float, bool]] = field(default_factory=list)  # (pass id, seconds, modified)
    rule_hits: dict[str, int] = field(default_factory=dict)  # "pass/rule" -> rewrites applied
    near_misses: dict[str, Any] = field(
        default_factory=dict
    )  # "pass/rule" that never fired -> closest NearMiss
    passes_run: list[str] = field(default_factory=list)
    progress: Callable[[str], None] | None = None
    allow_missing_kernels: bool = False  # custom layers with no bundled kernel (the app implements them)
    instruments: list[Instrument] = field(default_factory=list)  # run after every (leaf) pass
    collect_per_pass: bool = False  # set while Pipeline.run runs: see _collect_per_pass

    def record(self, rewrite: Rewrite) -> None:
        self.rewrites.append(rewrite)

    def applied(
        self,
        pass_id: str,
        rule: str,
        source: Sequence[gs.Node],
        root: gs.Node,
        created: Sequence[gs.Node],
        because: str = "",
    ) -> None:
        """Log one rewrite: ``source`` (matched at ``root``) replaced by the ``created`` nodes, each
        of which the report then attributes to ``pass_id/rule``; ``because``: why the target refused
        the source (the report says so)."""
        for node in created:
            self.created_by[node.name] = f"{pass_id}/{rule}"
        names = tuple(n.name for n in source)
        created_ops = tuple(ir.op_label(n) for n in created)
        self.record(Rewrite(pass_id, rule, names, ir.op_label(root), created_ops, because))

    def tally(self, key: str, hits: int, miss: Any = None) -> None:
        """Count a rule's hits in one run; a rule that never fired keeps its closest near miss."""
        self.rule_hits[key] = self.rule_hits.get(key, 0) + hits
        if hits:
            self.near_misses.pop(key, None)
        elif miss is not None:
            self.near_misses[key] = miss


def drop_nodes(graph: gs.Graph, removed: set[int]) -> None:
    """Remove the nodes (by ``id``) a rewrite replaced, and what only they used; re-sort."""
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    graph.cleanup(remove_unused_graph_inputs=False).toposort()


@dataclass(frozen=True)
class PassResult:
    graph: gs.Graph
    modified: bool


class Pass:
    """Base class. Subclasses set ``id`` and implement ``call``; the docstring's first line is the doc.

    ``after``/``before`` name passes (or ``namespace::*``) that, when present in the same pipeline,
    must run before/after this one; pipelines check them when built. ``extends`` names the ``-O``
    pipelines a registered pass joins (at the first position its constraints allow).
    """

    id: ClassVar[str] = ""
    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()
    extends: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        raise NotImplementedError

    def removes(self, graph: gs.Graph) -> set[int]:
        """The ids of the nodes of ``graph`` this pass deletes outright, when it removes nodes by what
        they are rather than by rewriting them (cleanup); ``legality.plan`` asks it."""
        return set()

    # ``legality.plan`` may run this pass (no RuleSet) on a copy of the graph to see what it makes of
    # each node: only a pass without effects beyond the graph it is given says so (bridgec's own
    # rewriting passes do; a plugin's pass is not run twice, nor outside the pipeline's error handling)
    plan_by_trial: ClassVar[bool] = False

    def may_rewrite(self, graph: gs.Graph, capabilities: Capabilities) -> bool:
        """Could this pass rewrite a node of ``graph`` for ``capabilities``? ``legality.plan`` runs a
        rewriting pass that is no ``RuleSet`` on a copy of the graph to see what it makes of each
        node, unless it says no here. True is always right; a pass that can tell cheaply that it
        would leave the graph as it is (no node of its ops, none refused) spares the copy."""
        return True

    def __call__(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        before = {node.name for node in graph.nodes}
        io_before = _io_signature(graph)
        start = time.perf_counter()
        try:
            result = self.call(graph, ctx)
        except BridgecError:
            raise
        except SystemExit as exc:  # a user's pass may not end the run, silently and with any status
            raise UsageError(
                f"pass {self.id} called sys.exit({exc.code!r}); a pass reports a problem by raising an "
                "exception"
            ) from None
        except Exception as exc:  # a bug in a pass must still name the pass and what ran before it
            ran = ", ".join(ctx.passes_run) or "none"
            raise ConversionError(
                f"pass {self.id} failed: {type(exc).__name__}: {exc} (passes run before it: {ran})"
            ) from exc
        elapsed = time.perf_counter() - start
        if not isinstance(self, Sequential):
            ctx.passes_run.append(self.id)
            ctx.timings.append((self.id, elapsed, result.modified))
        if result.modified:
            if _io_signature(result.graph) != io_before:
                raise ConversionError(
                    f"pass {self.id} changed the graph's inputs or outputs "
                    f"({io_before} -> {_io_signature(result.graph)}); passes must keep them"
                )
            after = {node.name for node in result.graph.nodes}
            for name in before - after:
                ctx.removed_by.setdefault(name, self.id)
            for name in after - before:
                ctx.created_by.setdefault(name, self.id)
        if not isinstance(self, Sequential):
            for instrument in ctx.instruments:
                instrument.after_pass(self, result, ctx)
            if ctx.collect_per_pass:
                gc.collect(1)  # the young generations: what this pass (and its checks) allocated
        return result


def _io_signature(graph: gs.Graph) -> tuple:
    # the state pairing (bridgec.core.state) is part of the interface: a pass that dropped it would
    # turn a buffer the model writes into a plain input and output
    return tuple(t.name for t in graph.inputs), tuple(t.name for t in graph.outputs), state_of(graph)


class Sequential(Pass):
    """Runs passes in order; with ``until_stable`` repeats the sequence until none changes the graph."""

    id = "sequential"

    def __init__(
        self,
        passes: Iterable[Pass],
        *,
        until_stable: bool = False,
        max_steps: int = 8,
        name: str | None = None,
    ) -> None:
        self.passes = list(passes)
        self.until_stable = until_stable
        self.max_steps = max_steps
        if name:
            self.id = name

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        modified_any = False
        for _ in range(self.max_steps if self.until_stable else 1):
            modified = False
            for p in self.passes:
                if ctx.progress:
                    ctx.progress(f"pass {p.id}")
                result = p(graph, ctx)
                graph = result.graph
                modified |= result.modified
            modified_any |= modified
            if not modified:
                break
        return PassResult(graph, modified_any)


class Pipeline(Sequential):
    """A list of passes with a ``run`` method; the user-facing way to compose passes in Python.

    Building one checks the passes' declared ``before``/``after`` ordering constraints.
    """

    id = "pipeline"

    def __init__(self, passes: Iterable[Pass], **kwargs: Any) -> None:
        super().__init__(passes, **kwargs)
        check_order([p.id for p in _leaves(self.passes)], self.id)

    def run(
        self, graph: gs.Graph, *, target: Capabilities | None = None, context: PassContext | None = None
    ) -> gs.Graph:
        """Run the passes on ``graph`` for ``target``, what the target can run (for Core ML:
        ``bridgec.backends.coreml.capabilities_for("iOS14")``), or with a prepared ``context``."""
        if context is None:
            if target is None or isinstance(target, str):
                raise UsageError(
                    f"Pipeline.run needs target= as a Capabilities object, not {target!r}: e.g. "
                    "bridgec.backends.coreml.capabilities_for('iOS15'), or pass context="
                )
            context = PassContext(capabilities=target, pipeline=self.id)
        with _collect_per_pass(context):
            return self(graph, context).graph


@contextlib.contextmanager
def _collect_per_pass(ctx: PassContext) -> Iterator[None]:
    """Garbage-collect once after each pass, not whenever CPython's allocation counters say.

    A graph is a web of reference cycles (node.inputs <-> tensor.outputs) and a pass allocates tens
    of thousands of tracked objects, so the automatic collector kept starting full collections that
    rescan the whole graph: the pipeline's CPU time grew as n^1.1 (t(100k)/t(10k) = 12.8, 52 s at
    100k nodes). A young-generation collection after each pass scans only what that pass allocated,
    which keeps the pipeline linear (31-34 s at 100k) and still frees a pass's garbage (the graph
    copies its checks export) before the next pass runs.
    """
    if not gc.isenabled() or ctx.collect_per_pass:  # the caller manages the collector, or nested
        yield
        return
    gc.disable()
    ctx.collect_per_pass = True
    try:
        yield
    finally:
        ctx.collect_per_pass = False
        gc.enable()


def _leaves(passes: Iterable[Pass]) -> list[Pass]:
    out: list[Pass] = []
    for p in passes:
        out.extend(_leaves(p.passes) if isinstance(p, Sequential) else [p])
    return out


def _matches(pattern: str, pass_id: str) -> bool:
    return pass_id == pattern or (pattern.endswith("::*") and pass_id.startswith(pattern[:-1]))


def _constraints(pass_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    cls = REGISTRY.get(pass_id)
    return (cls.after, cls.before) if cls else ((), ())


def check_order(ids: list[str], pipeline: str = "pipeline") -> None:
    """Raise if a pass runs before one it must follow (``after``) or after one it must precede."""
    for i, pass_id in enumerate(ids):
        after, before = _constraints(pass_id)
        for j, other in enumerate(ids):
            if j > i and any(_matches(p, other) for p in after):
                raise BridgecError(f"pipeline {pipeline}: {pass_id} must run after {other}, not before it")
            if j < i and any(_matches(p, other) for p in before):
                raise BridgecError(f"pipeline {pipeline}: {pass_id} must run before {other}, not after it")


def insert_in_order(ids: list[str], new: str) -> list[str]:
    """``ids`` with ``new`` at the first position its ordering constraints (and others') allow."""
    for position in range(len(ids) + 1):
        trial = ids[:position] + [new] + ids[position:]
        try:
            check_order(trial)
        except BridgecError:
            continue
        after, _ = _constraints(new)
        if any(_matches(p, other) for p in after for other in ids[position:]):
            continue
        return trial
    raise BridgecError(f"no position in the pipeline satisfies the ordering constraints of {new}")


# --- registry -------------------------------------------------------------------------------------

REGISTRY: dict[str, type[Pass]] = {}


def register(cls: type[Pass]) -> type[Pass]:
    """Class decorator: make a pass available by its id to pipelines and the CLI."""
    if not cls.id or "::" not in cls.id:
        raise ValueError(f"pass {cls.__name__} needs a namespaced id like 'cleanup::dead_nodes'")
    if cls.id in REGISTRY and REGISTRY[cls.id] is not cls:
        raise ValueError(
            f"pass id {cls.id!r} is registered twice ({REGISTRY[cls.id].__name__}, {cls.__name__})"
        )
    REGISTRY[cls.id] = cls
    return cls


def create(pass_id: str) -> Pass:
    try:
        return REGISTRY[pass_id]()
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise BridgecError(f"unknown pass {pass_id!r}; registered passes: {known}") from None


def node_names(nodes: Sequence[gs.Node]) -> tuple[str, ...]:
    return tuple(node.name for node in nodes)


def label(node: gs.Node) -> str:
    return ir.op_label(node)
