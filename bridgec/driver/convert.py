"""The main job: model file -> IR -> ``-O`` pipeline -> Core ML model + kernels + report.

``run(request)`` runs the stages in order, each taking the ``ConversionRequest`` and returning its
result: load (frontend) -> analyse (pipeline and op report, ``bridgec.driver.analysis``) -> emit
(the backend builds the model in memory) -> check (the numbers, ``bridgec.driver.check``) -> write.
Only the last stage writes files, all at once or not at all (``bridgec.driver.output``); a request
that cannot succeed is refused before the slow part (``bridgec.driver.request.validate``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import __version__, frontends
from bridgec import passes as passes_mod
from bridgec.backends.coreml.classifier import classifier_for
from bridgec.backends.coreml.flexible import make_flexible
from bridgec.backends.coreml.interface import describe as describe_interface
from bridgec.backends.coreml.metadata import Metadata
from bridgec.backends.coreml.model import BuiltModel
from bridgec.backends.coreml.model import build as build_model
from bridgec.backends.coreml.targets import FORMAT_NAMES, SUFFIXES
from bridgec.core import timing
from bridgec.core.errors import ConversionError, UsageError
from bridgec.core.input_values import MASK_RANGE, random_value, value_ranges
from bridgec.core.state import state_of
from bridgec.core.tensor_spec import TensorSpec
from bridgec.driver import check as check_mod
from bridgec.driver import check_inputs, check_state, output
from bridgec.driver.analysis import Analysis, analyse
from bridgec.driver.pipeline import run_pipeline
from bridgec.driver.report import Report, format_for
from bridgec.driver.request import ConversionRequest, compression_refusal, validate
from bridgec.frontends.shapes import UNBOUNDED_STAND_IN


@dataclass
class Conversion:
    """The result of ``run``: the request, what the pipeline made (``analysis``), the emitted model,
    its op report and numbers check, and where the write stage put the model and its kernels."""

    request: ConversionRequest
    analysis: Analysis
    model: BuiltModel
    report: Report
    check: check_mod.Check  # what the numbers check proved (``not checked`` with the reason)
    model_path: Path | None = None
    kernels_dir: Path | None = None
    kernel_files: list[Path] = field(default_factory=list)

    @property
    def source(self) -> list[tuple[str, str]]:
        return self.analysis.lowered.source

    @property
    def graph(self) -> gs.Graph:
        return self.analysis.graph

    @property
    def context(self) -> passes_mod.PassContext:
        return self.analysis.context

    @property
    def format_reason(self) -> str:
        """Why this format (``--format auto`` says it)."""
        return self.analysis.lowered.reason

    @property
    def spec(self):
        """The Core ML protobuf (``Model_pb2.Model``) of the emitted model."""
        return self.model.spec

    @property
    def format(self) -> str:
        return self.model.format

    @property
    def custom_classes(self) -> dict[str, list[str]]:
        return self.model.custom_classes


def convert(model: ConversionRequest | str | os.PathLike, **options) -> Conversion:
    """Convert ``model``: a ``ConversionRequest``, or a model file and the request's keywords
    (``ConversionRequest.of``: ``inputs=`` (name -> shape ``(1, 3, 224, 224)``, or with a dtype:
    ``bridgec.TensorSpec((1, 16), "int64")`` or ``((1, 16), "int64")``), ``pipeline=``, ``target=``, ``avoid_ops=``, ``format=``,
    ``precision=``, ``metadata=``, ``image=``, ``image_outputs=``, ``labels=``, ``labels_output=``, ``flexible=``, ``compress=``, ``frontend=``,
    ``options=`` (``RunOptions``), ``progress=``; ``check=``, ``check_inputs=``, ``strict=``,
    ``tolerance=``; ``output=``, ``write=``, ``extra_outputs=``, ``protect=``, ``report=``,
    ``report_format=``, ``report_json=``).

    With ``write`` the model lands at ``output`` (default: beside ``model``, ``.mlpackage`` for an ML
    Program, ``.mlmodel`` for a NeuralNetwork) with kernels for its custom layers, and the reports and
    ``extra_outputs`` (path -> bytes of the result), all in one all-or-nothing step.

    Before anything is written the emitted model's numbers are checked (``bridgec.driver.check``)
    against the source model on a seeded random input, or on ``check_inputs`` (input name, or None for
    a one-input model -> array or ``.npy`` path); ``tolerance`` overrides the precision's default.
    A mismatch raises ``check.CheckFailed`` and writes nothing. A model that cannot be checked (the
    executor lacks an op) is written with ``result.check.status == "not checked"``, unless
    ``strict``, which raises ``check.NotChecked``. ``check=False`` skips it (``result.check`` says so).

    No output may write over the model, a ``check_inputs`` file, another output or a path of
    ``protect`` (what else the caller reads or writes, as ``files.Claim``): that is a UsageError."""
    if isinstance(model, ConversionRequest):
        if options:
            raise TypeError(f"convert(request, {', '.join(options)}=...): the request holds every option")
        return run(model)
    return run(ConversionRequest.of(model, **options))


def run(request: ConversionRequest) -> Conversion:
    if request.format == "coreai":  # a Core AI model: its own emit, check and write stages
        from bridgec.driver import convert_coreai

        return convert_coreai.run(request, load, _prepare_check, Conversion)
    validate(request)
    source = load(request)
    prepared = _prepare_check(request, source)
    analysis = analyse(request, source.graph)
    built = emit(request, analysis)
    checked = check(request, source, analysis, built, prepared)
    if request.compress:
        from bridgec.driver import compression  # imported for --compress alone

        subject = _subject(request, source, analysis, built)
        ios = analysis.context.capabilities.target.ios
        built, checked = compression.compress(request, subject, prepared, checked, ios)
    report = dataclasses.replace(analysis.report, check=checked, interface=describe_interface(built.spec))
    result = Conversion(request, analysis, built, report, checked)
    if request.outputs.write:
        write(result)
    return result


def load(request: ConversionRequest) -> frontends.Source:
    request.say(f"loading {frontends.described(request.model)}")
    # the frontend's long steps (torch's exporter) are stages of their own
    frontend = dataclasses.replace(request.frontend or frontends.LoadOptions(), progress=request.say)
    with timing.stage("load"):
        return frontends.open_source(request.model, request.inputs, frontend)


def emit(request: ConversionRequest, analysis: Analysis) -> BuiltModel:
    """The Core ML model of the analysed graph, in memory (the write stage saves it)."""
    lowered = analysis.lowered
    output = request.outputs.model
    if output is not None and request.outputs.write and output.suffix != SUFFIXES[lowered.format]:
        raise ConversionError(
            f"-o {output}: {lowered.reason}, so the model is a {FORMAT_NAMES[lowered.format]} "
            f"({SUFFIXES[lowered.format]}); name OUT{SUFFIXES[lowered.format]}"
        )
    chosen = analysis.context.capabilities.target
    if request.compress:  # --format auto: now the format is known
        compression_refusal(request, lowered.format, chosen.ios)
    request.say(f"building a Core ML {FORMAT_NAMES[lowered.format]} ({lowered.reason})")
    given = request.metadata or Metadata()
    metadata = dataclasses.replace(
        given,
        short_description=given.short_description
        or f"{request.model.stem}, converted by bridgec {__version__}",
        provenance={
            "source": request.model.name,
            "pipeline": request.pipeline,
            "passes": ",".join(analysis.context.passes_run),
            "target": chosen.name,
            "format": lowered.format,
            "precision": request.precision,
            **({"compress": request.compress} if request.compress else {}),
            **given.provenance,
        },
    )
    with timing.stage("backend"):
        built = _build(request, lowered.graph, chosen, metadata)
    if request.flexible:
        _flexible_shapes(request, built, lowered.graph, chosen)
    return built


def _build(
    request: ConversionRequest, graph: gs.Graph, target, metadata: Metadata | None = None
) -> BuiltModel:
    """The backend's model of ``graph`` as the request asks for it (``_flexible_shapes`` builds the
    other corner shapes the same way, so that only the shapes differ)."""
    return build_model(
        graph,
        target,
        precision=request.precision,
        metadata=metadata,
        image=request.image,
        image_outputs=request.image_outputs,
        labels=request.labels,
        labels_output=request.labels_output,
        flexible=bool(request.flexible),
        progress=request.say,
    )


def _flexible_shapes(request: ConversionRequest, built: BuiltModel, graph: gs.Graph, target) -> None:
    """Flexible ``--input`` shapes: convert again at the other corner shapes (and one between) and
    let the backend check that one model serves them all (frontends.shapes.FlexibleShape, backends.coreml.flexible)."""
    names = [t.name for t in graph.inputs]
    by_name = {}
    alternatives = []
    for key, shape in request.flexible.items():
        name = key if key is not None else (names[0] if len(names) == 1 else None)
        if name not in names:
            raise UsageError(f"--input {key}: not an input of the model (its inputs: {', '.join(names)})")
        by_name[name] = shape
        # between() too: a size-dependent op (a ceil_mode pooling's padding) can agree at both ends
        for corner in [*shape.corners(), *shape.between()]:
            if corner == shape.default:
                continue
            described = f"{name}:{'x'.join(map(str, corner))}"
            request.say(f"converting again at {described} to check that one model serves every shape")
            given = (request.inputs or {}).get(key)
            at_corner = TensorSpec.of(given).with_shape(corner) if given is not None else corner
            other = frontends.load(
                request.model, {**(request.inputs or {}), key: at_corner}, request.frontend
            )
            _, other, _ = run_pipeline(other, request, target)
            alternatives.append((described, _build(request, other, target)))
    make_flexible(built, by_name, alternatives)


@dataclass
class _Prepared:
    """The check's inputs, read and run through the source model right after loading, so a bad
    ``--check-input`` (or a source that fails on it) fails before the slow part."""

    feeds: tuple[dict, dict, bool]  # source feeds, model feeds, whether the user gave them
    expected: dict | str | None  # the source's outputs, or why it could not run
    ranges: dict  # integer input -> the values it is fed (read before the passes change the graph)


def _prepare_check(request: ConversionRequest, source: frontends.Source) -> _Prepared | None:
    if not request.check.enabled:
        return None
    graph = source.graph
    with timing.stage("check"):  # the source's outputs on the check input: the check's first half
        feeds = check_inputs.check_feeds(graph, request.check.inputs, source.example, request.image)
        expected = check_inputs.source_outputs(source.run, feeds[0], source.reference, user_inputs=feeds[2])
    return _Prepared(feeds, expected, value_ranges(graph))


def check(
    request: ConversionRequest,
    source: frontends.Source,
    analysis: Analysis,
    built: BuiltModel,
    prepared: _Prepared | None,
) -> check_mod.Check:
    """The numbers check of the emitted model (and, for flexible shapes, at their other corner
    shapes and one in between too, where the source can be run at them). Raises ``CheckFailed`` on a
    mismatch, ``NotChecked`` for an unchecked model under ``strict``."""
    if prepared is None:
        return check_mod.not_checked("--no-check was given")
    with timing.stage("check"):
        result = _run_check(request, source, analysis, built, prepared)
    if result.status == check_mod.FAILED:
        raise check_mod.CheckFailed(result)
    if result.status == check_mod.NOT_CHECKED and request.check.strict:
        raise check_mod.NotChecked(f"--strict: {result.line()}; nothing was written")
    return result


def _subject(
    request: ConversionRequest, source: frontends.Source, analysis: Analysis, built: BuiltModel
) -> check_mod.Subject:
    """What the check runs: ``built`` against the source (the compress stage measures the same way)."""
    return check_mod.Subject(
        built=built,
        graph=analysis.graph,
        reference=source.reference,
        run_source=source.run,
        source_model=source.onnx_model,
        source_weights=source.onnx_weights,
        precision=request.precision,
        created_by=analysis.context.created_by,
        classifier=classifier_for(analysis.graph, request.labels, request.labels_output)
        if request.labels
        else None,
    )


def _run_check(
    request: ConversionRequest,
    source: frontends.Source,
    analysis: Analysis,
    built: BuiltModel,
    prepared: _Prepared,
) -> check_mod.Check:
    source_feeds, model_feeds, user = prepared.feeds
    if source.state is not None and state_of(analysis.graph):  # buffers the model writes
        return check_state.run_state_check(
            _subject(request, source, analysis, built),
            source.state,
            source_feeds,
            prepared.ranges,
            user_inputs=user,
            tolerance=request.check.tolerance,
            progress=request.say,
        )
    flexible = request.flexible
    more = []
    if flexible and source.format in frontends.TORCH_FORMATS:
        names = [t.name for t in analysis.graph.inputs]
        ranges = prepared.ranges
        rng = np.random.default_rng(1)
        for key, shape in flexible.items():
            name = key if key is not None else names[0]
            for corner in [*shape.between(), *shape.corners()]:
                if corner == shape.default:
                    continue
                values = ranges.get(name, MASK_RANGE)
                other = {**source_feeds, name: random_value(rng, corner, source_feeds[name].dtype, values)}
                label = check_inputs.shape_label(other)
                more.append((label, other, dict(other)))
    subject = _subject(request, source, analysis, built)
    result = check_mod.run_check(
        subject,
        source_feeds,
        model_feeds,
        user_inputs=user,
        tolerance=request.check.tolerance,
        more_shapes=more,
        progress=request.say,
        expected=prepared.expected,  # PyTorch ran on these feeds when the model loaded: not again
    )
    if flexible and not more and result.status == check_mod.CHECKED:
        result.notes.append(
            "the other shapes of the flexible input not run (onnxruntime runs the .onnx at this one)"
        )
    if more and result.status == check_mod.CHECKED:
        result.notes += [
            f"{key or names[0]} has no upper bound: run up to {'x'.join(map(str, shape.corners()[-1]))} "
            f"({UNBOUNDED_STAND_IN}x the lower bound)"
            for key, shape in flexible.items()
            if shape.unbounded
        ]
    if result.status == check_mod.CHECKED:
        result.notes += check_inputs.image_output_notes(request.image_outputs, prepared.expected)
    return result


def write(result: Conversion) -> None:
    """The write stage: the model, its kernels folder and the reports, all at once or not at all."""
    request = result.request
    outputs = request.outputs
    destination = request.destination(result.format)
    claims = request.claims(destination, result.format, default=outputs.model is None)
    request.say(f"writing {destination}")
    extra = {Path(path): render(result) for path, render in (outputs.extra or {}).items()}
    if outputs.report_json is not None:
        extra[outputs.report_json] = result.report.to_json().encode()
    if outputs.report is not None:
        extra[outputs.report] = result.report.render(
            format_for(outputs.report, outputs.report_format)
        ).encode()
    with timing.stage("save"):
        written = output.write_outputs(result.model, destination, extra, claims)
    result.model_path, result.kernels_dir, result.kernel_files = (
        written.model_path,
        written.kernels_dir,
        written.kernel_files,
    )
