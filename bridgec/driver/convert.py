"""The main job: model file -> IR -> ``-O`` pipeline -> Core ML model + kernels + report.

Outputs appear all at once or not at all: the model and the kernels folder are staged in a hidden
folder beside their destinations and renamed only after everything succeeded; what they may replace
or delete, and what they must not touch, is decided in ``bridgec.driver.files``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import __version__, frontends
from bridgec import passes as passes_mod
from bridgec.backends.coreml import capabilities_for, neuralnetwork
from bridgec.backends.coreml.metadata import Metadata
from bridgec.backends.coreml.model import BuiltModel
from bridgec.backends.coreml.model import build as build_model
from bridgec.backends.coreml.targets import (
    FORMAT_NAMES,
    FORMATS,
    MLPROGRAM_MIN_SPEC,
    PRECISIONS,
    SUFFIXES,
    Target,
)
from bridgec.core import interrupts, ir
from bridgec.core.errors import ConversionError, UsageError
from bridgec.driver import check as check_mod
from bridgec.driver import files, timing
from bridgec.driver.files import KERNELS_MARKER
from bridgec.driver.report import Report, build
from bridgec.runtime_kernels.catalog import KERNELS, files_for, write_kernels

COMMITTED: list[Path] = []  # models this process put in place (an interrupt after that loses nothing)


@dataclass
class Conversion:
    source: list[tuple[str, str]]
    graph: gs.Graph
    context: passes_mod.PassContext
    report: Report
    model: BuiltModel
    format_reason: str = ""  # why this format (``--format auto`` says it)
    model_path: Path | None = None
    kernels_dir: Path | None = None
    kernel_files: list[Path] = field(default_factory=list)
    check: check_mod.Check | None = None  # what the numbers check proved (None: not run)

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


def default_output(model: Path, format: str = "neuralnetwork") -> Path:
    return model.with_suffix(SUFFIXES[format])


def kernels_dir_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}_kernels")


@dataclass
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
    # An ML Program if nothing ends up a custom layer: find out by running the pipeline for it,
    # with the final legality check held back, since a custom layer is a reason to switch, not an error.
    original = graph.copy()
    trial = dataclasses.replace(options, disable=(*options.disable, "check::target_legal"))
    ml = nn.with_format("mlprogram")
    source, out, ctx = run_pipeline(graph, pipeline, ml, avoid_ops, options=trial, format="mlprogram")
    custom = sorted({n.op for n in out.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN})
    if not custom:
        if "check::target_legal" in passes_mod.pipeline_ids(pipeline, options.passes, options.disable):
            passes_mod.create("check::target_legal")(out, ctx)
        return Lowered(source, out, ctx, "mlprogram", "no custom layer remains")
    why = f"custom layer(s) {', '.join(custom)} remain, and only NeuralNetwork models carry custom layers"
    say(f"{why}: emitting a NeuralNetwork instead of an ML Program")
    source, out, ctx = run_pipeline(original, pipeline, nn, avoid_ops, options=options)
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


def _neuralnetwork_only(output: Path | None, image: object, labels: object, flexible: object) -> str | None:
    """Why this conversion must be a NeuralNetwork whatever the graph holds, or None."""
    if output is not None and output.suffix == ".mlmodel":
        return f"-o {output.name} is a .mlmodel file (NeuralNetwork); name a .mlpackage for an ML Program"
    if image is not None or labels:
        return "--image-input and --labels are written for NeuralNetwork models only so far"
    if flexible:
        return "flexible --input shapes are written for NeuralNetwork models only so far"
    return None


def convert(
    model: str | os.PathLike,
    *,
    inputs: dict | None = None,
    pipeline: str = passes_mod.DEFAULT_PIPELINE,
    target: str | None = None,
    avoid_ops: tuple[str, ...] = (),
    format: str = "auto",
    precision: str = "fp32",
    metadata: Metadata | None = None,
    output: str | os.PathLike | None = None,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
    options: RunOptions | None = None,
    frontend: frontends.LoadOptions | None = None,
    image: neuralnetwork.ImageInput | None = None,
    labels: list[str] | None = None,
    flexible: dict | None = None,
    extra_outputs: dict[Path, Callable[[Conversion], bytes]] | None = None,
    check: bool = True,
    check_inputs: Mapping[str | None, np.ndarray | str | os.PathLike] | None = None,
    strict: bool = False,
    tolerance: float | None = None,
    protect: Sequence[files.Claim] = (),
) -> Conversion:
    """Convert ``model``. With ``write`` the model lands at ``output`` (default: beside ``model``,
    ``.mlpackage`` for an ML Program, ``.mlmodel`` for a NeuralNetwork) with kernels for its custom
    layers, and ``extra_outputs`` (path -> bytes of the result, such as the JSON report), all in one
    all-or-nothing step.

    Before anything is written the emitted model's numbers are checked (``bridgec.driver.check``) against
    the source model on a seeded random input, or on ``check_inputs`` (input name, or None for a
    one-input model -> array or ``.npy`` path); ``tolerance`` overrides the precision's default.
    A mismatch raises ``check.CheckFailed`` and writes nothing. A model that cannot be checked (the
    executor lacks an op) is written with ``result.check.status == "not checked"``, unless
    ``strict``, which raises ``check.NotChecked``. ``check=False`` skips it (``result.check`` says so).

    No output may write over the model, a ``check_inputs`` file, another output or a path of
    ``protect`` (what else the caller reads or writes, as ``files.Claim``): that is a UsageError."""
    if strict and not check:
        raise UsageError("--strict asks for a checked model and --no-check for none: give one of them")
    if tolerance is not None and not (tolerance > 0):
        raise UsageError(f"--tolerance {tolerance}: give a positive number such as 1e-4")
    model = Path(model)
    say = progress or (lambda message: None)
    output = Path(output) if output else None
    if output is not None and write:
        if output.suffix not in (".mlmodel", ".mlpackage"):
            raise UsageError(
                f"-o {output}: name a .mlpackage (ML Program) or .mlmodel (NeuralNetwork, the format "
                "with custom layers)"
            )
        if output.suffix == ".mlmodel" and format == "mlprogram":
            raise UsageError(f"-o {output}: an ML Program is a .mlpackage folder; name OUT.mlpackage")
        if output.suffix == ".mlpackage" and format == "neuralnetwork":
            raise UsageError(f"-o {output}: a NeuralNetwork model is a .mlmodel file; name OUT.mlmodel")
        if output.suffix == ".mlmodel" and output.is_dir():
            raise UsageError(f"-o {output}: is a directory; name the .mlmodel file to write")
    if write:  # before the slow part; the default output's name is checked once the format is known
        files.check_claims(_claims(model, output, format, extra_outputs, check_inputs, protect))
    if pipeline not in passes_mod.PIPELINES:
        raise UsageError(
            f"unknown pipeline -O {pipeline!r}; choose one of: {', '.join(passes_mod.PIPELINES)}"
        )
    if precision not in PRECISIONS:
        raise UsageError(f"unknown --precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    nn_only = _neuralnetwork_only(output if write else None, image, labels, flexible)
    _custom_layers_asked(pipeline, format, options or RunOptions())  # a conflict fails before the slow part
    caps = capabilities_for(target, avoid_ops, "mlprogram" if format == "mlprogram" else "neuralnetwork")
    say(f"loading {model} ({frontends.detect_format(model)})")
    with timing.stage("load"):
        source = frontends.open_source(model, inputs, frontend)
    graph = source.graph
    feeds = expected = None
    if check:  # bad --check-input, or a source that fails on it, fails now: before the slow part
        feeds = check_mod.check_feeds(graph, check_inputs, source.example, image)
        expected = check_mod.source_outputs(source.run, feeds[0], source.reference, user_inputs=feeds[2])
    wanted = FORMAT_NAMES.get(format, "the best format the model allows")
    say(f"running -O {pipeline} for {caps.target.name} ({wanted}) on {len(graph.nodes)} nodes")
    lowered = lower(
        graph,
        pipeline,
        target,
        avoid_ops,
        format=format,
        neuralnetwork_only=nn_only,
        options=options,
        say=say,
    )
    ctx = lowered.context
    chosen = ctx.capabilities.target
    if output is not None and write and output.suffix != SUFFIXES[lowered.format]:
        raise ConversionError(
            f"-o {output}: {lowered.reason}, so the model is a {FORMAT_NAMES[lowered.format]} "
            f"({SUFFIXES[lowered.format]}); name OUT{SUFFIXES[lowered.format]}"
        )
    say(f"building a Core ML {FORMAT_NAMES[lowered.format]} ({lowered.reason})")
    metadata = metadata or Metadata()
    metadata.short_description = metadata.short_description or (
        f"{model.stem}, converted by bridgec {__version__}"
    )
    metadata.provenance = {
        "source": model.name,
        "pipeline": pipeline,
        "passes": ",".join(ctx.passes_run),
        "target": chosen.name,
        "format": lowered.format,
        "precision": precision,
        **metadata.provenance,
    }
    with timing.stage("backend"):
        built = build_model(
            lowered.graph, chosen, precision=precision, metadata=metadata, image=image, labels=labels
        )
    if flexible:
        _flexible_shapes(
            model,
            built.spec,
            lowered.graph,
            inputs or {},
            flexible,
            pipeline,
            caps,
            avoid_ops,
            options,
            frontend,
            say,
        )
    report = build(lowered.source, lowered.graph, ctx, ctx.capabilities)
    result = Conversion(lowered.source, lowered.graph, ctx, report, built, lowered.reason)
    if check:
        with timing.stage("check"):
            result.check = _check(source, result, precision, feeds, expected, tolerance, flexible, say)
        if result.check.status == check_mod.FAILED:
            raise check_mod.CheckFailed(result.check)
        if result.check.status == check_mod.NOT_CHECKED and strict:
            raise check_mod.NotChecked(f"--strict: {result.check.line()}; nothing was written")
    else:
        result.check = check_mod.not_checked("--no-check was given")
    report.check = result.check
    if write:
        destination = output or default_output(model, lowered.format)
        claims = _claims(
            model, destination, lowered.format, extra_outputs, check_inputs, protect, default=output is None
        )
        say(f"writing {destination}")
        with timing.stage("save"):
            _write_outputs(result, destination, extra_outputs, claims)
    return result


def _check(
    source: frontends.Source,
    result: Conversion,
    precision: str,
    feeds: tuple[dict, dict, bool],
    expected: dict | str | None,
    tolerance: float | None,
    flexible: dict | None,
    say: Callable[[str], None],
) -> check_mod.Check:
    """Run the numbers check on the emitted model (and, for flexible shapes, at their other corner
    shapes and one in between too, where the source can be run at them)."""
    source_feeds, model_feeds, user = feeds
    more = []
    if flexible and source.format in frontends.TORCH_FORMATS:
        names = [t.name for t in result.graph.inputs]
        rng = np.random.default_rng(1)
        for key, shape in flexible.items():
            name = key if key is not None else names[0]
            for corner in [*shape.between(), *shape.corners()]:
                if corner == shape.default:
                    continue
                other = {**source_feeds, name: rng.standard_normal(corner).astype(np.float32)}
                label = check_mod.shape_label(other)
                more.append((label, other, dict(other)))
    subject = check_mod.Subject(
        built=result.model,
        graph=result.graph,
        reference=source.reference,
        run_source=source.run,
        source_model=source.onnx_model,
        precision=precision,
        created_by=result.context.created_by,
    )
    result = check_mod.run_check(
        subject,
        source_feeds,
        model_feeds,
        user_inputs=user,
        tolerance=tolerance,
        more_shapes=more,
        progress=say,
    )
    if flexible and not more and result.status == check_mod.CHECKED:
        result.notes.append(
            "the other shapes of the flexible input not run (onnxruntime runs the .onnx at this one)"
        )
    return result


def _flexible_shapes(
    model, spec, graph, inputs, flexible, pipeline, caps, avoid_ops, options, frontend, say
) -> None:
    """Flexible ``--input`` shapes: convert again at the other corner shapes and let the backend
    check that one network serves them all (frontends.shapes.FlexibleShape, make_flexible)."""
    names = [t.name for t in graph.inputs]
    by_name = {}
    alternatives = []
    for key, shape in flexible.items():
        name = key if key is not None else (names[0] if len(names) == 1 else None)
        if name not in names:
            raise UsageError(f"--input {key}: not an input of the model (its inputs: {', '.join(names)})")
        by_name[name] = shape
        for corner in shape.corners():
            if corner == shape.default:
                continue
            described = f"{name}:{'x'.join(map(str, corner))}"
            say(f"converting again at {described} to check that one network serves every shape")
            other = frontends.load(model, {**inputs, key: corner}, frontend)
            _, other, _ = run_pipeline(other, pipeline, caps.target.name, avoid_ops, options=options)
            alternatives.append((described, neuralnetwork.build_spec(other, caps.target)))
    neuralnetwork.make_flexible(spec, by_name, alternatives)


def _claims(
    model: Path,
    output: Path | None,
    format: str,
    extra: Mapping[Path, Callable] | None,
    check_inputs: Mapping | None,
    protect: Sequence[files.Claim],
    *,
    default: bool = False,
) -> list[files.Claim]:
    """What this conversion reads and writes, for ``files.check_claims``. ``format``: the model's
    format, or "auto" while it is not known yet (then an ``-o`` suffix tells)."""
    claims = [files.Claim(f"the input model {model}", model, "input")]
    for value in (check_inputs or {}).values():
        if isinstance(value, (str, os.PathLike)):
            claims.append(files.Claim(f"--check-input {value}", Path(value), "input"))
    if output is not None:
        package = format == "mlprogram" or (format == "auto" and output.suffix == ".mlpackage")
        label = f"the default output {output}" if default else f"-o {output}"
        claims.append(files.Claim(label, output, "folder" if package else "file"))
        if not package:
            kernels = kernels_dir_for(files.real(output) if output.is_symlink() else output)
            claims.append(files.Claim(f"the kernels folder {kernels}", kernels, "folder"))
    labelled = {Path(c.path) for c in protect}
    claims += [files.Claim(str(path), Path(path)) for path in extra or {} if Path(path) not in labelled]
    return [*claims, *protect]


def _write_outputs(
    result: Conversion,
    output: Path,
    extra: dict[Path, Callable] | None = None,
    claims: Sequence[files.Claim] = (),
) -> None:
    """Stage the model, the kernels folder and the ``extra`` files (path -> ``f(result)`` giving the
    bytes, e.g. the JSON report) beside their destinations, then rename them all in one go. None of
    them may touch a path of ``claims`` (the inputs, the other outputs)."""
    files.check_claims(claims)
    try:
        _stage_and_swap(result, output, extra or {})
    except OSError as exc:
        where = exc.filename or output
        raise UsageError(f"{where}: cannot write it ({exc.strerror or type(exc).__name__})") from None


def _through_link(path: Path) -> Path:
    """Writing to a symlink replaces what it points to; the link stays."""
    return files.real(path) if path.is_symlink() else path


def _stage_and_swap(result: Conversion, output: Path, extra: dict[Path, Callable]) -> None:
    classes = sorted(c for c in result.custom_classes if c in KERNELS)
    target = _through_link(output)
    kernels_dir = kernels_dir_for(target)
    destinations = {_through_link(Path(path)): render for path, render in extra.items()}
    for folder in {target.parent, *(path.parent for path in destinations)}:
        # first, so that what a killed run had moved aside is back before anything is judged
        files.clean_stale(folder)
    if result.format == "mlprogram":
        problem = files.package_problem(target) if os.path.lexists(target) else None
        if problem:
            raise UsageError(
                f"{output} exists and is not a Core ML package ({problem}); move it away or choose -o"
            )
    elif target.is_dir():
        raise UsageError(f"-o {output}: is a directory; name the .mlmodel file to write")
    for path in destinations:
        if path.is_dir():
            raise UsageError(f"{path}: is a directory; name a file to write")
    # a kernels folder is bridgec's to replace or remove only if it wrote it for this very model and
    # nothing in it changed since: another model's kernels, or the user's files, are left alone
    ours = None
    if os.path.lexists(kernels_dir):
        known = {Path(rel).name for rel in files_for(KERNELS)} | {"KERNELS.md"}
        ours = files.kernels_problem(kernels_dir, target.name, known)
        if classes and ours is not None:
            raise UsageError(f"{kernels_dir}: {ours}; move it away or choose another -o")
        ours = ours is None
    stagings: dict[Path, files.Staging] = {}

    def staging(folder: Path) -> files.Staging:
        if folder not in stagings:
            with interrupts.deferred():  # made and recorded for removal in one step
                stagings[folder] = files.Staging(folder)
        return stagings[folder]

    try:
        staged = staging(target.parent).new(target.name)
        if result.format == "mlprogram":
            result.model.save(staged)
        else:
            staged.write_bytes(result.spec.SerializeToString(deterministic=True))
        for path, render in destinations.items():
            staging(path.parent).new(path.name).write_bytes(render(result))
        if classes:
            staged_kernels = staging(kernels_dir.parent).new(kernels_dir.name)
            write_kernels(classes, staged_kernels)
            (staged_kernels / "KERNELS.md").write_text(_kernels_index(result, classes))
            marker = files.kernels_marker(staged_kernels, target.name)
            (staged_kernels / KERNELS_MARKER).write_text(marker)
        # Everything is staged: now swap it in, with Ctrl-C and SIGTERM held until the swap is done
        # (between the renames the kernels folder would be missing or not match the model).
        with interrupts.deferred():
            interrupts.checkpoint()  # an interrupt a library swallowed: nothing goes in place
            if classes:
                staging(kernels_dir.parent).put(kernels_dir.name)
            elif ours:  # stale: from an earlier conversion of this model that had custom layers
                staging(kernels_dir.parent).put_aside(kernels_dir.name)
            staging(target.parent).put(target.name)
            for path in destinations:
                staging(path.parent).put(path.name)
            COMMITTED.append(output)
    finally:
        with interrupts.deferred():  # a removal cut short would leave the staging folders behind
            for folder in stagings.values():
                folder.remove()
    result.model_path = output
    if classes:
        result.kernels_dir = kernels_dir
        result.kernel_files = sorted(kernels_dir.iterdir())


def _kernels_index(result: Conversion, classes: list[str]) -> str:
    lines = [
        "# Custom layer kernels for this model",
        "",
        "Add every `.swift` and `.metal` file in this folder to your app target. Core ML finds each",
        "class by its Objective-C name; the GPU path (`encode`) runs when the model may use the GPU.",
        "",
    ]
    for name in classes:
        spec = KERNELS[name]
        params = ", ".join(f"`{p}` ({kind})" for p, kind in spec.parameters.items())
        layers = result.custom_classes[name]
        lines += [
            f"## {name}",
            "",
            spec.description,
            "",
            f"- parameters: {params}",
            f"- layers in this model: {len(layers)} ({', '.join(layers[:5])}{', ...' if len(layers) > 5 else ''})",
            f"- files: {', '.join(Path(f).name for f in spec.files)}",
            "",
        ]
    return "\n".join(lines)
