"""Pass infrastructure: what a pass is, what it returns, how pipelines run it, and the registry.

A pass is a small class with a namespaced ``id`` (``cleanup::dead_nodes``) and
``call(graph, ctx) -> PassResult``. The pipeline, not the pass, owns repetition and the
checks that run after every pass, so no pass writes its own ``while changed:`` loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.errors import BridgecError, ConversionError


class Capabilities(Protocol):
    """What a target can run; the backend provides it, passes ask it (one source of truth)."""

    description: str

    def unsupported_reason(self, node: gs.Node) -> str | None:
        """None when the target runs ``node`` as it is, else why it cannot."""


@dataclass(frozen=True)
class Rewrite:
    """One recorded decision: which pass (and rule) replaced which source nodes with what."""

    pass_id: str
    rule: str
    source_nodes: tuple[str, ...]
    source_op: str
    created_ops: tuple[str, ...]


@dataclass
class PassContext:
    """State shared by the passes of one pipeline run: the target, and the log of what happened."""

    capabilities: Capabilities
    pipeline: str = "custom pipeline"
    rewrites: list[Rewrite] = field(default_factory=list)
    removed_by: dict[str, str] = field(default_factory=dict)  # node name -> pass id that removed it
    created_by: dict[str, str] = field(default_factory=dict)  # node name -> pass id (and rule) that made it
    timings: list[tuple[str, float, bool]] = field(default_factory=list)  # (pass id, seconds, modified)
    passes_run: list[str] = field(default_factory=list)
    progress: Callable[[str], None] | None = None

    def record(self, rewrite: Rewrite) -> None:
        self.rewrites.append(rewrite)


@dataclass(frozen=True)
class PassResult:
    graph: gs.Graph
    modified: bool


class Pass:
    """Base class. Subclasses set ``id`` and implement ``call``; the docstring's first line is the doc."""

    id: ClassVar[str] = ""

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        raise NotImplementedError

    def __call__(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        before = {node.name for node in graph.nodes}
        io_before = _io_signature(graph)
        start = time.perf_counter()
        try:
            result = self.call(graph, ctx)
        except BridgecError:
            raise
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
        return result


def _io_signature(graph: gs.Graph) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(t.name for t in graph.inputs), tuple(t.name for t in graph.outputs)


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
    """A list of passes with a ``run`` method; the user-facing way to compose passes in Python."""

    id = "pipeline"

    def run(
        self, graph: gs.Graph, *, target: str | Capabilities | None = None, context: PassContext | None = None
    ) -> gs.Graph:
        """Run the passes on ``graph`` for ``target`` (a name like "iOS14" or a Capabilities)."""
        if context is None:
            context = PassContext(capabilities=_capabilities_for(target), pipeline=self.id)
        return self(graph, context).graph


def _capabilities_for(target: str | Capabilities | None) -> Capabilities:
    if target is None or isinstance(target, str):
        from bridgec.backends.coreml.capabilities import capabilities_for  # lazy: keeps passes light

        return capabilities_for(target)
    return target


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
