"""The ``-O`` pipeline run for a target and format: the pass options (``RunOptions``), one run
(``run_pipeline``), and the choice of format that ``--format auto`` makes (``lower``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx_graphsurgeon as gs

from bridgec import passes as passes_mod
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.targets import FORMATS, MLPROGRAM_MIN_SPEC, Target
from bridgec.core import ir, timing
from bridgec.core.errors import UsageError
from bridgec.passes import legality


@dataclass(frozen=True)
class RunOptions:
    """How the pass pipeline runs: which passes, and what watches them (see ``bridgec --help``)."""

    passes: list[str] | None = None  # explicit pass ids instead of the -O pipeline's
    disable: tuple[str, ...] = ()
    check_each: bool = True  # ONNX checker + strict shape inference after every changing pass
    verify_each: bool = False  # onnxruntime outputs compared after every changing pass
    dump_dir: Path | None = None
    dump_graphml: bool = False
    print_after: tuple[str, ...] = ()
    allow_missing_kernels: bool = False


def run_pipeline(
    graph: gs.Graph,
    pipeline: str,
    target: str | None,
    avoid_ops: tuple[str, ...] = (),
    progress: Callable[[str], None] | None = None,
    options: RunOptions | None = None,
    format: str = "neuralnetwork",
) -> tuple[list[tuple[str, str]], gs.Graph, passes_mod.PassContext]:
    options = options or RunOptions()
    caps = capabilities_for(target, avoid_ops, format)
    source = [(node.name, ir.op_label(node)) for node in graph.nodes]
    built = passes_mod.pipeline(pipeline, options.passes, options.disable)
    ctx = passes_mod.PassContext(
        capabilities=caps,
        pipeline=pipeline,
        progress=progress,
        allow_missing_kernels=options.allow_missing_kernels,
    )
    if options.check_each:
        ctx.instruments.append(passes_mod.GraphCheck())
    if options.verify_each:
        ctx.instruments.append(passes_mod.VerifyEach(graph))
    if options.dump_dir:
        ctx.instruments.append(passes_mod.DumpDir(options.dump_dir, graph, options.dump_graphml))
    if options.print_after:
        known = set(passes_mod.REGISTRY) | {"all"}
        unknown = [p for p in options.print_after if p not in known]
        if unknown:
            raise UsageError(f"--print-after {unknown[0]!r}: no such pass; 'bridgec passes' lists them")
        ctx.instruments.append(passes_mod.PrintAfter(set(options.print_after)))
    with timing.stage("passes"):
        graph = built.run(graph, context=ctx)
    return source, graph, ctx


@dataclass
class Lowered:
    """The graph after the ``-O`` pipeline, for the format chosen (and why that one)."""

    source: list[tuple[str, str]]
    graph: gs.Graph
    context: passes_mod.PassContext
    format: str
    reason: str


def lower(
    graph: gs.Graph,
    pipeline: str,
    target: str | None,
    avoid_ops: tuple[str, ...] = (),
    *,
    format: str = "auto",
    neuralnetwork_only: str | None = None,
    options: RunOptions | None = None,
    say: Callable[[str], None] | None = None,
) -> Lowered:
    """Run the pipeline for the format ``--format`` asks for. ``auto`` tries an ML Program (iOS15+)
    and falls back to a NeuralNetwork when custom layers remain, since only that format carries
    them; ``neuralnetwork_only`` is a reason the caller already knows to skip the ML Program."""
    say = say or (lambda message: None)
    options = options or RunOptions()
    if format not in FORMATS:
        raise UsageError(f"unknown --format {format!r}; choose one of: {', '.join(FORMATS)}")
    nn = Target.parse(target, avoid_ops)
    if format == "mlprogram" and neuralnetwork_only:
        raise UsageError(f"--format mlprogram: {neuralnetwork_only}; use --format neuralnetwork")
    neuralnetwork_only = neuralnetwork_only or _custom_layers_asked(pipeline, format, options)
    if format != "auto":
        chosen = Target.parse(target, avoid_ops, format)
        source, out, ctx = run_pipeline(graph, pipeline, chosen, avoid_ops, options=options, format=format)
        return Lowered(source, out, ctx, format, f"--format {format}")
    if neuralnetwork_only or nn.spec_version < MLPROGRAM_MIN_SPEC:
        why = neuralnetwork_only or f"{nn.name} predates ML Programs (iOS15 / macOS12 and newer run them)"
        source, out, ctx = run_pipeline(graph, pipeline, nn, avoid_ops, options=options)
        return Lowered(source, out, ctx, "neuralnetwork", why)
    # An ML Program if nothing ends up a custom layer, which the pipeline's rules tell before it runs.
    # The plan counts custom layers with bundled kernels only: whether one without a kernel remains can
    # depend on what constant folding leaves (shape arithmetic), which only the run knows.
    ml = nn.with_format("mlprogram")
    built = passes_mod.pipeline(pipeline, options.passes, options.disable)
    custom = legality.custom_layers(legality.plan(graph, capabilities_for(ml), built))
    if not custom:
        # The run has the last word (a rule that fires only in context, a pass that is no rule set),
        # so the final legality check waits: a custom layer is a reason to switch, not an error.
        original = graph.copy()
        trial = dataclasses.replace(options, disable=(*options.disable, "check::target_legal"))
        source, out, ctx = run_pipeline(graph, pipeline, ml, avoid_ops, options=trial, format="mlprogram")
        custom = sorted({n.op for n in out.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN})
        if not custom:
            if "check::target_legal" in passes_mod.pipeline_ids(pipeline, options.passes, options.disable):
                passes_mod.create("check::target_legal")(out, ctx)
            return Lowered(source, out, ctx, "mlprogram", "no custom layer remains")
        graph = original
    why = f"custom layer(s) {', '.join(custom)} remain, and only NeuralNetwork models carry custom layers"
    say(f"{why}: emitting a NeuralNetwork instead of an ML Program")
    source, out, ctx = run_pipeline(graph, pipeline, nn, avoid_ops, options=options)
    return Lowered(source, out, ctx, "neuralnetwork", why)


def _custom_layers_asked(pipeline: str, format: str, options: RunOptions) -> str | None:
    """-O custom promises custom layers, and only a NeuralNetwork carries them: an ML Program would
    quietly compute natively what the user asked to keep as a layer of their own. The reason to
    write a NeuralNetwork, or a usage error when the format asked for cannot hold them."""
    if pipeline != "custom" or options.passes:
        return None
    if format == "mlprogram":
        raise UsageError(
            "-O custom makes custom layers, which an ML Program cannot hold; use --format neuralnetwork "
            "(or -O lower / -O none for an ML Program)"
        )
    return "-O custom asks for custom layers, which only NeuralNetwork models carry"
