"""The main job: model file -> IR -> ``-O`` pipeline -> Core ML model + kernels + report.

Outputs appear all at once or not at all: the model and the kernels folder are written to
temporary names beside their destinations and renamed only after everything succeeded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx_graphsurgeon as gs

from bridgec import __version__, frontends, ir, timing
from bridgec import passes as passes_mod
from bridgec.backends.coreml import capabilities_for, neuralnetwork
from bridgec.errors import UsageError
from bridgec.report import Report, build
from bridgec.runtime_kernels.catalog import KERNELS, write_kernels

KERNELS_MARKER = ".bridgec-kernels"
COMMITTED: list[Path] = []  # models this process put in place (an interrupt after that loses nothing)


@dataclass
class Conversion:
    source: list[tuple[str, str]]
    graph: gs.Graph
    context: passes_mod.PassContext
    report: Report
    spec: object
    model_path: Path | None = None
    kernels_dir: Path | None = None
    kernel_files: list[Path] = field(default_factory=list)

    @property
    def custom_classes(self) -> dict[str, list[str]]:
        return neuralnetwork.custom_classes(self.spec)


def default_output(model: Path) -> Path:
    return model.with_suffix(".mlmodel")


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
) -> tuple[list[tuple[str, str]], gs.Graph, passes_mod.PassContext]:
    options = options or RunOptions()
    caps = capabilities_for(target, avoid_ops)
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


def convert(
    model: str | os.PathLike,
    *,
    inputs: dict | None = None,
    pipeline: str = passes_mod.DEFAULT_PIPELINE,
    target: str | None = None,
    avoid_ops: tuple[str, ...] = (),
    output: str | os.PathLike | None = None,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
    options: RunOptions | None = None,
    frontend: frontends.LoadOptions | None = None,
    image: neuralnetwork.ImageInput | None = None,
    labels: list[str] | None = None,
    flexible: dict | None = None,
    extra_outputs: dict[Path, Callable[[Conversion], bytes]] | None = None,
) -> Conversion:
    """Convert ``model``; with ``write`` the .mlmodel (and kernels for custom layers) land beside ``output``,
    with ``extra_outputs`` (path -> bytes of the result, such as the JSON report) in the same all-or-nothing
    step."""
    model = Path(model)
    say = progress or (lambda message: None)
    output = Path(output) if output else default_output(model)
    if write and output.suffix != ".mlmodel":
        raise UsageError(
            f"-o {output}: the NeuralNetwork format (the one with custom layers) is a .mlmodel file"
        )
    if write and output.is_dir():
        raise UsageError(f"-o {output}: is a directory; name the .mlmodel file to write")
    if pipeline not in passes_mod.PIPELINES:
        raise UsageError(
            f"unknown pipeline -O {pipeline!r}; choose one of: {', '.join(passes_mod.PIPELINES)}"
        )
    caps = capabilities_for(target, avoid_ops)  # validates --target before the slow part
    say(f"loading {model} ({frontends.detect_format(model)})")
    with timing.stage("load"):
        graph = frontends.load(model, inputs, frontend)
    say(f"running -O {pipeline} for {caps.description} on {len(graph.nodes)} nodes")
    source, graph, ctx = run_pipeline(graph, pipeline, target, avoid_ops, progress=None, options=options)
    say("building the Core ML model")
    metadata = {
        "description": f"{model.stem}, converted by bridgec {__version__}",
        "source": model.name,
        "pipeline": pipeline,
        "passes": ",".join(ctx.passes_run),
        "target": caps.target.name,
    }
    with timing.stage("backend"):
        spec = neuralnetwork.build_spec(graph, caps.target, metadata=metadata, image=image, labels=labels)
    if flexible:
        _flexible_shapes(
            model, spec, graph, inputs or {}, flexible, pipeline, caps, avoid_ops, options, frontend, say
        )
    report = build(source, graph, ctx, caps)
    result = Conversion(source, graph, ctx, report, spec)
    if write:
        say(f"writing {output}")
        with timing.stage("save"):
            _write_outputs(result, output, extra_outputs)
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


def _write_outputs(result: Conversion, output: Path, extra: dict[Path, Callable] | None = None) -> None:
    """Stage the model, the kernels folder and the ``extra`` files (path -> ``f(result)`` giving the
    bytes, e.g. the JSON report) beside their destinations, then rename them all in one go."""
    try:
        _stage_and_swap(result, output, extra or {})
    except OSError as exc:
        where = exc.filename or output
        raise UsageError(f"{where}: cannot write it ({exc.strerror or type(exc).__name__})") from None


def _stage(data: bytes, path: Path, staged: list[tuple[Path, Path]]) -> None:
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; name a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    staged.append((Path(name), path))
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _stage_and_swap(result: Conversion, output: Path, extra: dict[Path, Callable]) -> None:
    classes = sorted(c for c in result.custom_classes if c in KERNELS)
    kernels_dir = kernels_dir_for(output)
    staged_files: list[tuple[Path, Path]] = []
    staged_kernels: Path | None = None
    try:
        _stage(result.spec.SerializeToString(deterministic=True), output, staged_files)
        for path, render in extra.items():
            _stage(render(result), Path(path), staged_files)
        if classes:
            staged_kernels = Path(tempfile.mkdtemp(prefix=f".{kernels_dir.name}.", dir=output.parent))
            write_kernels(classes, staged_kernels)
            (staged_kernels / KERNELS_MARKER).write_text(
                "written by bridgec; replaced on every conversion of " + output.name + "\n"
            )
            (staged_kernels / "KERNELS.md").write_text(_kernels_index(result, classes))
        # Everything is staged: now swap it in, with Ctrl-C and SIGTERM held until the swap is done
        # (between the renames the kernels folder would be missing or not match the model).
        with _signals_deferred():
            if staged_kernels is not None:
                _replace_dir(staged_kernels, kernels_dir)
                staged_kernels = None
            elif (kernels_dir / KERNELS_MARKER).exists():
                shutil.rmtree(kernels_dir)  # a stale folder from an earlier run that had custom layers
            for temporary, destination in staged_files:
                os.replace(temporary, destination)
            COMMITTED.append(output)
    finally:
        for temporary, _ in staged_files:
            temporary.unlink(missing_ok=True)
        if staged_kernels is not None:
            shutil.rmtree(staged_kernels, ignore_errors=True)
    result.model_path = output
    if classes:
        result.kernels_dir = kernels_dir
        result.kernel_files = sorted(kernels_dir.iterdir())


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs (a signal already on its way is held too); one
    that came in is raised as KeyboardInterrupt right after."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers run in the main thread only: nothing to hold here
        return
    pending: list[int] = []

    def hold(signum, frame) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending and previous[pending[0]] is not signal.SIG_IGN:
            raise KeyboardInterrupt


def _replace_dir(staged: Path, destination: Path) -> None:
    if destination.exists():
        if not (destination / KERNELS_MARKER).exists():
            raise UsageError(
                f"{destination} exists and was not written by bridgec; move it away or choose -o"
            )
        old = destination.with_name(destination.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(destination, old)
        os.replace(staged, destination)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, destination)


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
