"""``--format coreai``: the conversion's stages for a Core AI model (``.aimodel``, iOS 27 / macOS 27).

The same load -> analyse -> emit -> check -> write stages as a Core ML conversion (``convert.run``),
with the Core AI capability table driving the passes, ``backends.coreai.builder`` emitting, and
Apple's own runtime (``coreai-core``, in a child process) running the written model for the
check. What the Core AI backend does not do yet is refused up front in one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bridgec.backends.coreai import executor, require_coreai
from bridgec.backends.coreai import kernels as _kernels  # noqa: F401 - registers coreai.metal4_kernel in the executor
from bridgec.backends.coreai.builder import BuiltProgram, build_program
from bridgec.backends.coreai.inputs import coreai_feeds
from bridgec.backends.coreai.run import CoreAIRunError, run_model
from bridgec.backends.coreai.targets import SUFFIX, Target
from bridgec.core import interrupts, ir, timing
from bridgec.core.errors import UsageError
from bridgec.core.numerics import tolerance_for
from bridgec.driver import check as check_mod
from bridgec.driver import files, output
from bridgec.driver.analysis import Analysis, analyse
from bridgec.driver.report import format_for
from bridgec.driver.request import ConversionRequest

FORMAT = "coreai"
REFERENCE_RUNTIME = "Apple's Core AI runtime (coreai-core)"
EXECUTOR = "bridgec's Core AI executor"


@dataclass
class CoreAIModel:
    """The emitted Core AI program, in memory (duck-typed where the driver reads a ``BuiltModel``)."""

    program: BuiltProgram
    format: str = FORMAT
    custom_classes: dict[str, list[str]] = field(default_factory=dict)
    spec: None = None
    saved: Path | None = None  # the folder the check ran, until the write stage moves it in place

    def save(self, path: Path) -> None:
        """Write the ``.aimodel`` at ``path``: the very folder the check ran when there is one (moved:
        a rename when it was saved beside the destination), else a fresh save."""
        if self.saved is not None and self.saved.is_dir():
            shutil.move(self.saved, path)
            self.saved = None
        else:
            self.program.save(path)


def validate(request: ConversionRequest) -> Target:
    """Refuse (UsageError, one line) what a Core AI conversion cannot do, before the slow part."""
    target = Target.parse(request.target, request.avoid_ops)
    if request.compress is not None:
        from bridgec.backends.coreml.compress import MODES

        raise UsageError(
            f"--compress {request.compress}: bridgec has no compression mode for --format coreai yet "
            f"(supported: none; drop --compress, or use --format mlprogram for {', '.join(MODES)})"
        )
    unsupported = [
        (request.flexible, "flexible --input shapes"),
        (request.image, "--image inputs"),
        (request.image_outputs, "--image-output"),
        (request.labels, "--labels"),
        (request.precision != "fp32", f"--precision {request.precision}"),
    ]
    for given, what in unsupported:
        if given:
            raise UsageError(
                f"--format coreai does not support {what} yet (issue 19); drop it or use --format mlprogram"
            )
    out = request.outputs.model
    if out is not None and request.outputs.write and out.suffix != SUFFIX:
        raise UsageError(f"-o {out}: a Core AI model is a {SUFFIX} folder; name OUT{SUFFIX}")
    if request.outputs.report is not None:
        format_for(request.outputs.report, request.outputs.report_format)
    require_coreai()
    return target


def destination(request: ConversionRequest) -> Path:
    return request.outputs.model or request.model.with_suffix(SUFFIX)


def run(request: ConversionRequest, load, prepare_check, conversion):
    """The stages of ``convert.run`` for a Core AI model; ``convert`` hands in its own load stage,
    check preparation and result class (so this module does not import it back)."""
    if request.model is None:
        raise UsageError("a conversion needs a model file: give convert() the path of a .pt, .pt2 or .onnx")
    validate(request)
    if request.outputs.write:
        files.check_claims(_claims(request))
    source = load(request)
    prepared = prepare_check(request, source)
    analysis = analyse(request, source.graph)
    with contextlib.ExitStack() as cleanup:
        built = emit(request, analysis)
        staged = _check_folder(request, cleanup) / destination(request).name
        with timing.stage("save"):
            built.program.save(staged)
        built.saved = staged  # saved once: the write stage moves this checked folder in place
        checked = check(request, analysis, staged, prepared, source.reference)
        report = dataclasses.replace(analysis.report, check=checked)
        result = conversion(request, analysis, built, report, checked)
        if request.outputs.write:
            write(result)
    return result


def _check_folder(request: ConversionRequest, cleanup: contextlib.ExitStack) -> Path:
    """Where the model is saved for the check: a staging folder beside the destination when it will be
    written (so the write stage renames it in place), else (or where that folder cannot be made yet)
    a temporary one. Either is removed when the conversion ends, whatever happened."""
    folder = files.through_link(destination(request)).parent  # where the write stage stages it
    if request.outputs.write and folder.is_dir():
        try:
            with interrupts.deferred():  # made and recorded for removal in one step
                staging = output.Staging(folder)
                cleanup.callback(_remove, staging)
            return staging.new("")
        except OSError:  # not writable: the write stage says so in one line
            pass
    return Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bridgec-coreai-")))


def _remove(staging: output.Staging) -> None:
    with interrupts.deferred():  # a removal cut short would leave the staging folder behind
        staging.remove()


def emit(request: ConversionRequest, analysis: Analysis) -> CoreAIModel:
    target = analysis.context.capabilities.target
    request.say(f"building a Core AI model for {target.name}")
    with timing.stage("backend"):
        program = build_program(analysis.graph, target, request.model.name)
    return CoreAIModel(program)


def run_program(graph, target: Target, name: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs of ``graph`` (legal for ``target``) built as a Core AI model, saved to a temporary
    folder and run on ``feeds`` by Apple's runtime in a child process (``bridgec verify``)."""
    program = build_program(graph, target, name)
    with tempfile.TemporaryDirectory(prefix="bridgec-coreai-") as tmp:
        saved = Path(tmp) / Path(name).with_suffix(SUFFIX).name
        program.save(saved)
        return run_model(saved, coreai_feeds(graph, feeds))


def check(request, analysis: Analysis, model: Path, prepared, reference: str) -> check_mod.Check:
    """Apple's runtime runs the written model on the check's input; its outputs against the source's."""
    if prepared is None:
        return check_mod.not_checked("--no-check was given")
    _, model_feeds, user = prepared.feeds
    want = prepared.expected
    if isinstance(want, str):
        return check_mod.not_checked(want)
    kernels = custom_kernels(analysis.graph)
    names = [t.name for t in analysis.graph.outputs]
    # A Metal kernel computes in float16, as Core ML's GPU kernels do (runtime_kernels/metal4.py):
    # a model holding one is held to the fp16 tolerance, and the check says so.
    precision = "fp16" if kernels else request.precision
    tolerance = request.check.tolerance if request.check.tolerance is not None else tolerance_for(precision)
    feeds = coreai_feeds(analysis.graph, model_feeds)  # int64 ids as the int32 the app feeds, range-checked
    # where Apple's runtime cannot run the model here, bridgec's executor (Apple's op docs) runs it alone
    fallback = executor.fallback_reason(model)
    runtime = REFERENCE_RUNTIME if fallback is None else EXECUTOR
    request.say(f"checking the numbers: {reference} against the .aimodel in {runtime}")
    with timing.stage("check"):
        try:
            got = run_model(model, feeds) if fallback is None else executor.run(model, feeds)
        except (CoreAIRunError, executor.ExecutorError) as error:
            result = check_mod.Check(check_mod.FAILED, reference, precision, tolerance, reason=str(error))
            raise check_mod.CheckFailed(result) from None
    result = check_mod.Check(check_mod.CHECKED, reference, precision, tolerance, user_inputs=user)
    result.outputs = check_mod.compare_outputs(got, want, names, tolerance)
    result.shapes.append(", ".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in feeds.items()))
    if kernels:
        result.notes.append(kernels_note(kernels))
    result.notes.append(
        f"run in {REFERENCE_RUNTIME}"
        if fallback is None
        else f"checked by bridgec's executor only (Apple's runtime was not run: {fallback})"
    )
    judge(result, runtime)
    if result.status == check_mod.FAILED:
        raise check_mod.CheckFailed(result)
    constant = check_mod.constant_outputs(want, names)
    if constant:
        result.notes.append(check_mod.constant_note(reference, constant))
    return result


def judge(result: check_mod.Check, runtime: str) -> None:
    """Fail ``result`` when an output is out of tolerance, naming the worst one and what ran the model
    (the conversion's check and ``bridgec verify --against`` word it alike)."""
    failed = [o for o in result.outputs if not o.passed]
    if failed:
        worst = max(failed, key=lambda o: o.max_rel if np.isfinite(o.max_rel) else float("inf"))
        result.status = check_mod.FAILED
        result.reason = (
            f"output {worst.name!r} differs from {result.reference} by max rel err {worst.max_rel:.3g} in "
            f"{runtime} ({result.precision} tolerance {check_mod.short(result.tolerance)})"
        )


def custom_kernels(graph) -> dict[str, list[str]]:
    """The custom-layer nodes of ``graph`` (each a ``coreai.metal4_kernel``), by kernel class."""
    kernels: dict[str, list[str]] = {}
    for node in graph.nodes:
        if ir.op_key(node)[0] == ir.CUSTOM_DOMAIN:
            kernels.setdefault(node.op, []).append(node.name)
    return kernels


def kernels_note(kernels: dict[str, list[str]]) -> str:
    """What the check of a model holding Metal kernels rests on, in one line."""
    return (
        f"coreai.metal4_kernel ({', '.join(sorted(kernels))}) computed as its op's numpy reference in float16, "
        "as its Metal source computes (bridgec's tests match that source with the reference, compiled as C++)"
    )


def _claims(request: ConversionRequest) -> list[files.Claim]:
    return request.claims(destination(request), "mlprogram", default=request.outputs.model is None)


def write(result) -> None:
    request = result.request
    target = destination(request)
    request.say(f"writing {target}")
    extra = {}
    if request.outputs.report_json is not None:
        extra[request.outputs.report_json] = result.report.to_json().encode()
    if request.outputs.report is not None:
        extra[request.outputs.report] = result.report.render(
            format_for(request.outputs.report, request.outputs.report_format)
        ).encode()
    with timing.stage("save"):
        written = output.write_outputs(result.model, target, extra, _claims(request))
    result.model_path = written.model_path


__all__ = ["CoreAIModel", "judge", "run", "run_program", "validate"]
