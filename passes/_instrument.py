"""Instruments the pass manager runs after every pass: checks, numerical comparison, dumps, printing.

Each is a small class with ``after_pass(pass, result, ctx)``; ``PassContext.instruments`` holds
the ones a run wants. ``render_stats`` formats the timings and rule hits every run records.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.errors import ConversionError, UsageError, onnx_message
from bridgec.core.numerics import standard_normal
from bridgec.core.words import plural
from bridgec.passes._infra import Pass, PassContext, PassResult


def _where(p: Pass, ctx: PassContext) -> str:
    before = ctx.passes_run[:-1]
    return f"after pass {p.id} (passes run before it: {', '.join(before) or 'none'})"


# Above this many elements a constant's values cannot matter to the checker or to shape inference:
# the only values ONNX's shape inference reads are shape-like operands (Reshape's shape, Slice's
# starts, Resize's scales, reduction axes...), a few numbers each.
_STAND_IN_ABOVE = 1024


def _weights_as_inputs(graph: gs.Graph) -> gs.Graph:
    """A copy of ``graph`` whose large constants are typed graph inputs of the same dtype and shape.

    The checker and strict shape inference judge the same nodes, types and shapes, without the
    weights being serialised into the model three times per changing pass: for vit_b_16 (330 MB of
    weights) that was 6 s of a 12 s conversion, most of it the kernel's page faults."""
    # the copy's tensors are new objects sharing the arrays: converting them leaves ``graph`` as it is
    copy = graph.copy()
    taken = {t.name for t in copy.inputs}
    for tensor in copy.tensors().values():
        if (
            isinstance(tensor, gs.Constant)
            and tensor.name not in taken
            and int(np.prod(tensor.shape, dtype=np.int64)) > _STAND_IN_ABOVE
        ):
            dtype, shape = tensor.export_dtype, list(tensor.shape)
            tensor.to_variable(dtype=dtype, shape=shape)
            copy.inputs.append(tensor)
            taken.add(tensor.name)
    return copy


class GraphCheck:
    """After a pass changes the graph: the ONNX checker and strict shape inference must accept it."""

    def after_pass(self, p: Pass, result: PassResult, ctx: PassContext) -> None:
        if not result.modified:
            return
        model = ir.export_model(_weights_as_inputs(result.graph), infer_shapes=False)
        try:
            onnx.checker.check_model(model)
            onnx.shape_inference.infer_shapes(model, strict_mode=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise ConversionError(f"invalid graph {_where(p, ctx)}: {onnx_message(exc)}") from None


class VerifyEach:
    """After a pass changes the graph: onnxruntime outputs must match the previous graph's."""

    def __init__(self, graph: gs.Graph, seed: int = 0, rtol: float = 1e-5, atol: float = 1e-5) -> None:
        from bridgec.core.runtimes import run_onnxruntime

        rng = np.random.default_rng(seed)
        self.feeds = {t.name: standard_normal(rng, tuple(t.shape)) for t in graph.inputs}
        self.rtol, self.atol = rtol, atol
        self.previous = run_onnxruntime(graph, self.feeds)
        self.compared = 0

    def after_pass(self, p: Pass, result: PassResult, ctx: PassContext) -> None:
        if not result.modified:
            return
        from bridgec.core.runtimes import run_onnxruntime

        current = run_onnxruntime(result.graph, self.feeds)
        for name, want in self.previous.items():
            got = current[name]
            if got.shape != want.shape or not np.allclose(
                got, want, rtol=self.rtol, atol=self.atol, equal_nan=True
            ):
                err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
                raise ConversionError(
                    f"--verify-each: output {name!r} changed {_where(p, ctx)}: max abs error "
                    f"{err:.3g} > atol {self.atol:g} + rtol {self.rtol:g}"
                )
        self.previous = current
        self.compared += 1


DUMPED_NAME = re.compile(r"\d{2,}_.*\.(onnx|graphml)")  # every name DumpDir writes (dump_stem + suffix)


def dump_stem(count: int, label: str) -> str:
    """The file name (without suffix) --dump-dir gives the graph after pass number ``count``; the
    driver refuses outputs that ``DUMPED_NAME`` matches inside a dump folder."""
    return f"{count:02d}_{label.replace('::', '.')}"


class DumpDir:
    """Writes the graph after every pass as ``NN_<pass>.onnx`` (Netron shows which pass made each node)."""

    def __init__(self, directory: Path, graph: gs.Graph, graphml: bool = False) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in its place or on its path, no permission: the user's to fix
            raise UsageError(
                f"--dump-dir {self.directory}: cannot create the folder ({exc.strerror or type(exc).__name__}); "
                "name a folder bridgec can create or write to"
            ) from None
        self.graphml = graphml
        self.count = 0
        self._write("input", graph, {})

    def _write(self, label: str, graph: gs.Graph, provenance: dict[str, str]) -> None:
        stem = dump_stem(self.count, label)
        model = ir.export_model(graph, provenance=provenance)
        try:
            onnx.save(model, str(self.directory / f"{stem}.onnx"))
            if self.graphml:
                import networkx as nx

                nx.write_graphml(ir.to_networkx(graph), str(self.directory / f"{stem}.graphml"))
        except OSError as exc:
            raise UsageError(
                f"--dump-dir {self.directory}: cannot write {stem} in it ({exc.strerror or type(exc).__name__})"
            ) from None
        self.count += 1

    def after_pass(self, p: Pass, result: PassResult, ctx: PassContext) -> None:
        self._write(p.id, result.graph, ctx.created_by)


class PrintAfter:
    """Prints the graph (ONNX text syntax) after the named passes, to stderr."""

    def __init__(self, pass_ids: set[str], stream=None) -> None:
        self.pass_ids = pass_ids
        self.stream = stream or sys.stderr

    def after_pass(self, p: Pass, result: PassResult, ctx: PassContext) -> None:
        if p.id in self.pass_ids or "all" in self.pass_ids:
            graph = ir.export_model(result.graph, infer_shapes=False).graph
            weights = len(graph.initializer)
            del graph.initializer[:]  # weights would drown the structure
            text = onnx.printer.to_text(graph)
            print(
                f"// graph after {p.id} ({plural(weights, 'initializer')} not shown)\n{text}",
                file=self.stream,
            )


def render_stats(ctx: PassContext) -> str:
    lines = ["pass                               time (ms)  changed"]
    for pass_id, seconds, modified in ctx.timings:
        lines.append(f"{pass_id:34} {seconds * 1e3:9.2f}  {'yes' if modified else 'no'}")
    total = sum(seconds for _, seconds, _ in ctx.timings)
    lines.append(f"{'total':34} {total * 1e3:9.2f}")
    if ctx.rule_hits:
        lines.append("rule                                         hits")
        for rule, hits in ctx.rule_hits.items():
            lines.append(f"{rule:44} {hits:4}")
            miss = ctx.near_misses.get(rule)
            if hits == 0 and miss is not None:
                lines.append(
                    f"    closest near-miss: node {miss.node}, {plural(miss.matched, 'pattern node')} matched, "
                    f"then: {miss.reason}"
                )
    return "\n".join(lines)
