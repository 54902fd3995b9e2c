"""The ``-O`` pipeline run for a target and format: the pass options (``RunOptions``), one run
(``run_pipeline``), and the choice of format that ``--format auto`` makes (``lower``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import onnx_graphsurgeon as gs

from bridgec import passes as passes_mod
from bridgec.backends.coreai.targets import Target as CoreAITarget
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml import state as coreml_state
from bridgec.backends.coreml.targets import FORMATS, MLPROGRAM_MIN_SPEC, Target
from bridgec.core import ir, timing
from bridgec.core.errors import UsageError
from bridgec.core.state import state_of
from bridgec.core.words import noun
from bridgec.passes import legality

if TYPE_CHECKING:
    from bridgec.driver.request import ConversionRequest


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
    graph: gs.Graph, request: ConversionRequest, target: Target
) -> tuple[list[tuple[str, str]], gs.Graph, passes_mod.PassContext]:
    """One run of the request's pipeline (``request.pipeline`` with ``request.passes``) for
    ``target``, a format already chosen: the source ops, the rewritten graph, the pass context."""
    options = request.passes
    if target.format == "coreai":  # its table brings the Core AI kernels and executor: only for that format
        from bridgec.backends.coreai.capabilities import capabilities_for as coreai_capabilities

        caps = coreai_capabilities(target)
    else:
        caps = capabilities_for(target)
    source = [(node.name, ir.op_label(node)) for node in graph.nodes]
    built = passes_mod.pipeline(request.pipeline, options.passes, options.disable)
    ctx = passes_mod.PassContext(
        capabilities=caps,
        pipeline=request.pipeline,
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


def lower(graph: gs.Graph, request: ConversionRequest) -> Lowered:
    """Run the request's pipeline for the format ``request.format`` asks for. ``auto`` makes an ML
    Program (iOS15+) unless custom layers remain, since only a NeuralNetwork carries them, or the
    request already rules it out (``request.neuralnetwork_only()``)."""
    format, options = request.format, request.passes
    if format == "coreai":  # one format, one op table: no choice to make
        target = CoreAITarget.parse(request.target, request.avoid_ops)
        source, out, ctx = run_pipeline(graph, request, target)
        return Lowered(source, out, ctx, "coreai", "--format coreai")
    if format not in FORMATS:
        raise UsageError(f"unknown --format {format!r}; choose one of: {', '.join(FORMATS)}")
    nn = Target.parse(request.target, request.avoid_ops)
    if state_of(graph):  # buffers the model writes: Core ML state, which only ML Programs hold
        coreml_state.check_target(graph, nn, format)
        format = "mlprogram"
    neuralnetwork_only = request.neuralnetwork_only()
    if format == "mlprogram" and neuralnetwork_only:
        raise UsageError(f"--format mlprogram: {neuralnetwork_only}; use --format neuralnetwork")
    neuralnetwork_only = neuralnetwork_only or _custom_layers_asked(request.pipeline, format, options)
    if format != "auto":
        source, out, ctx = run_pipeline(
            graph, request, Target.parse(request.target, request.avoid_ops, format)
        )
        why = f"--format {format}" if format == request.format else "its state only an ML Program holds"
        return Lowered(source, out, ctx, format, why)
    if neuralnetwork_only or nn.spec_version < MLPROGRAM_MIN_SPEC:
        why = neuralnetwork_only or f"{nn.name} predates ML Programs (iOS15 / macOS12 and newer run them)"
        source, out, ctx = run_pipeline(graph, request, nn)
        return Lowered(source, out, ctx, "neuralnetwork", why)
    # An ML Program if nothing ends up a custom layer, which the pipeline's rules tell before it runs.
    # The plan counts custom layers with bundled kernels only: whether one without a kernel remains can
    # depend on what constant folding leaves (shape arithmetic), which only the run knows.
    ml = nn.with_format("mlprogram")
    built = passes_mod.pipeline(request.pipeline, options.passes, options.disable)
    with timing.stage("passes"):  # the plan reads the pipeline's rules: the passes' time
        custom = legality.custom_layers(legality.plan(graph, capabilities_for(ml), built))
    if not custom:
        # The run has the last word (a rule that fires only in context, a pass that is no rule set),
        # so the final legality check waits: a custom layer is a reason to switch, not an error.
        original = graph.copy()
        trial = dataclasses.replace(options, disable=(*options.disable, "check::target_legal"))
        source, out, ctx = run_pipeline(graph, dataclasses.replace(request, passes=trial), ml)
        custom = sorted({n.op for n in out.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN})
        if not custom:
            if "check::target_legal" in passes_mod.pipeline_ids(
                request.pipeline, options.passes, options.disable
            ):
                passes_mod.create("check::target_legal")(out, ctx)
            return Lowered(source, out, ctx, "mlprogram", "no custom layer remains")
        graph = original
    why = (
        f"{noun(custom, 'custom layer')} {', '.join(custom)} {noun(custom, 'remains', 'remain')}, and only "
        "NeuralNetwork models carry custom layers"
    )
    request.say(f"{why}: emitting a NeuralNetwork instead of an ML Program")
    source, out, ctx = run_pipeline(graph, request, nn)
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
