"""The analyse stage: the ``-O`` pipeline on the loaded graph, for the format the request asks for,
and the op report of what it did (``Analysis``). ``bridgec report`` runs load and this stage only,
leniently (``analyze``): what the target cannot run shows up as rows of the report, not as an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import onnx_graphsurgeon as gs

from bridgec import frontends
from bridgec import passes as passes_mod
from bridgec.backends.coreai.targets import Target as CoreAITarget
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.targets import FORMAT_NAMES
from bridgec.core import timing
from bridgec.core.errors import UsageError
from bridgec.core.words import plural
from bridgec.driver import provenance
from bridgec.driver.pipeline import Lowered, lower
from bridgec.driver.report import Report, build
from bridgec.driver.request import ConversionRequest


@dataclass
class Analysis:
    """What the pipeline made of the source graph (``lowered``: the graph, the pass context, the
    format chosen and why) and its op report."""

    lowered: Lowered
    report: Report

    @property
    def graph(self) -> gs.Graph:
        return self.lowered.graph

    @property
    def context(self) -> passes_mod.PassContext:
        return self.lowered.context

    @property
    def format(self) -> str:
        return self.lowered.format


def analyse(request: ConversionRequest, graph: gs.Graph) -> Analysis:
    """Run the request's pipeline on ``graph`` (a conversion: every pass, the legality check too)."""
    fmt = request.format
    if fmt == "coreai":
        target = CoreAITarget.parse(request.target, request.avoid_ops)
        request.say(
            f"running -O {request.pipeline} for {target.name} (Core AI) on {plural(graph.nodes, 'node')}"
        )
        lowered = lower(graph, request)
        return Analysis(lowered, _report(request, lowered))
    caps = capabilities_for(
        request.target, request.avoid_ops, "mlprogram" if fmt == "mlprogram" else "neuralnetwork"
    )
    wanted = FORMAT_NAMES.get(fmt, "the best format the model allows")
    request.say(
        f"running -O {request.pipeline} for {caps.target.name} ({wanted}) on {plural(graph.nodes, 'node')}"
    )
    lowered = lower(graph, request)
    return Analysis(lowered, _report(request, lowered))


def _report(request: ConversionRequest, lowered: Lowered) -> Report:
    with timing.stage("report"):  # a row per node, and the input file's hash
        report = build(lowered)
        report.provenance = provenance.of_request(request, lowered)
    return report


def analyze_graph(graph: gs.Graph, request: ConversionRequest) -> Report:
    """The report of running the request's pipeline on ``graph``, also when the target cannot run
    the result: the pipeline runs without its final legality check and with custom layers allowed
    without kernels, so what the target cannot run shows up as ``unsupported`` (or custom without
    kernel) rows instead of an error. ``report.graph`` is the rewritten graph, ``report.context``
    the run's PassContext."""
    if request.pipeline not in passes_mod.PIPELINES:
        raise UsageError(
            f"unknown pipeline -O {request.pipeline!r}; choose one of: {', '.join(passes_mod.PIPELINES)}"
        )
    options = request.passes
    ids = passes_mod.pipeline_ids(request.pipeline, options.passes, options.disable)
    lenient = replace(
        options,
        passes=[p for p in ids if p != "check::target_legal"],
        disable=(),
        allow_missing_kernels=True,
    )
    # the same format choice a conversion makes (pipeline.lower), for --format auto included
    lowered = lower(graph, replace(request, passes=lenient))
    lowered.context.pipeline = request.pipeline
    report = _report(request, lowered)
    report.graph, report.context = lowered.graph, lowered.context
    return report


def analyze(model: ConversionRequest | str | os.PathLike, **options) -> Report:
    """``analyze_graph`` of a model file (``bridgec report``): a request, or a model and the
    keywords of ``ConversionRequest.of``."""
    request = model if isinstance(model, ConversionRequest) else ConversionRequest.of(model, **options)
    capabilities_for(request.target, request.avoid_ops)  # validates --target before the slow part
    request.say(f"loading {request.model}")
    # torch's exporter is a step of its own (a ViT's takes most of a minute)
    frontend = replace(request.frontend or frontends.LoadOptions(), progress=request.say)
    graph = frontends.load(request.model, request.inputs, frontend)
    request.say(f"running -O {request.pipeline} on {plural(graph.nodes, 'node')}")
    return analyze_graph(graph, request)
