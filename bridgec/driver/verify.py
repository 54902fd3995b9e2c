"""``bridgec verify``: the same inputs through PyTorch, onnxruntime (before and after the passes) and
the Core ML model, compared output by output — and, with ``per_node``, tensor by tensor.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import frontends
from bridgec.backends.coreml import native
from bridgec.backends.coreml.executor import ExecutorError
from bridgec.backends.coreml.interface import describe as describe_interface
from bridgec.backends.coreml.model import build as build_model
from bridgec.core import runtimes
from bridgec.core.errors import UsageError
from bridgec.core.input_values import random_inputs
from bridgec.core.numerics import TOLERANCES, difference
from bridgec.core.state import state_of
from bridgec.core.words import noun, plural
from bridgec.driver import provenance
from bridgec.driver.check import Divergence, first_divergence, short
from bridgec.driver.check_inputs import as_input_dtype, coreml_feeds
from bridgec.driver.output import write_file
from bridgec.driver.pipeline import RunOptions, lower
from bridgec.driver.report import build as build_report
from bridgec.driver.request import ConversionRequest

REFERENCE = "pytorch"
RUNTIME_TITLES = {
    "pytorch": "PyTorch (TorchScript)",
    "onnx_before": "onnxruntime, before passes",
    "onnx_after": "onnxruntime, after -O {pipeline}",
    "coreml_reference": "Core ML, reference executor",
    "coreml": "Core ML, macOS runtime",
    "coreai": "Core AI, Apple's runtime (coreai-core)",
}


@dataclass
class Comparison:
    output: str
    runtime: str
    max_abs: float
    max_rel: float
    passed: bool
    note: str = ""


@dataclass
class VerifyResult:
    reference: str
    feeds: dict[str, np.ndarray]
    outputs: dict[str, dict[str, np.ndarray]]  # runtime -> output name -> array
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)
    per_node_compared: dict[str, int] = field(default_factory=dict)
    context: Any = None  # the PassContext of the pipeline run (timings, rule hits)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


def compare(got: np.ndarray, want: np.ndarray, tolerance: float) -> tuple[float, float, bool, str]:
    """(max abs error, max rel error, within ``tolerance``, note), by ``bridgec.core.numerics``' metric: the
    error relative to the reference output's scale, max |got - want| / max |want|."""
    diff = difference(got, want)
    note = diff.note or ("NaN/inf where the reference differs" if diff.mismatched_nonfinite else "")
    return diff.max_abs, diff.max_rel, diff.within(tolerance), note


def make_feeds(graph: gs.Graph, given: Path | None, seed: int) -> dict[str, np.ndarray]:
    """The inputs of every runtime: the arrays of ``given`` (an .npz) in the inputs' dtypes, or seeded
    random ones (integer inputs within the tables they index, ``core.input_values``)."""
    if given is None:
        return random_inputs(graph, np.random.default_rng(seed))
    from bridgec.core.input_files import read_npz

    feeds = read_npz(given, f"--inputs {given}")
    for tensor in graph.inputs:
        if tensor.name not in feeds:
            raise UsageError(
                f"--inputs {given} has no array named {tensor.name!r} (it has: {', '.join(feeds)})"
            )
        if tuple(feeds[tensor.name].shape) != tuple(tensor.shape):
            raise UsageError(
                f"--inputs {given}: {tensor.name!r} has shape {feeds[tensor.name].shape}, the model "
                f"takes {tuple(tensor.shape)}"
            )
        dtype = np.dtype(tensor.dtype if tensor.dtype is not None else np.float32)
        feeds[tensor.name] = as_input_dtype(f"--inputs {given}: {tensor.name!r}", feeds[tensor.name], dtype)
    return {t.name: feeds[t.name] for t in graph.inputs}


def verify(
    model: str | os.PathLike,
    *,
    inputs: dict | None = None,
    pipeline: str = "lower-custom",
    target: str | None = None,
    avoid_ops: tuple[str, ...] = (),
    feeds_file: Path | None = None,
    seed: int = 0,
    tolerance: float | None = None,
    per_node: bool = False,
    progress: Callable[[str], None] | None = None,
    options: RunOptions | None = None,
    frontend: frontends.LoadOptions | None = None,
    format: str = "auto",
    precision: str = "fp32",
) -> VerifyResult:
    model = Path(model)
    say = progress or (lambda message: None)
    tolerance = tolerance if tolerance is not None else TOLERANCES[precision]
    fmt = frontends.detect_format(model)
    say(f"loading {model} ({fmt})")
    if progress is not None:  # torch's exporter is a step of its own (a ViT's takes most of a minute)
        frontend = dataclasses.replace(frontend or frontends.LoadOptions(), progress=progress)
    before = frontends.load(model, inputs, frontend)
    if state_of(before):
        raise UsageError(
            f"{model.name} writes {noun(state_of(before), 'buffer')} "
            f"{', '.join(b.name for b in state_of(before))} (state), and bridgec verify "
            f"runs single calls; convert it (bridgec {model.name} --target iOS18): its check runs calls in sequence"
        )
    feeds = make_feeds(before, feeds_file, seed)
    output_names = [t.name for t in before.outputs]
    outputs: dict[str, dict[str, np.ndarray]] = {}
    notes = []
    if fmt in frontends.TORCH_FORMATS:
        say("running PyTorch")
        # the module's own outputs, flattened and named as the exported graph names them
        outputs["pytorch"] = frontends.run_pytorch(model, feeds, frontend)
        reference = "pytorch"
    else:
        reference = "onnx_before"
        notes.append("reference: the source ONNX graph in onnxruntime (no PyTorch model to run)")
    say("running onnxruntime on the graph before the passes")
    outputs["onnx_before"] = runtimes.run_onnxruntime(before, feeds, intermediates=per_node)
    say(f"running -O {pipeline}")
    request = ConversionRequest.of(
        model,
        inputs=inputs,
        pipeline=pipeline,
        target=target,
        avoid_ops=avoid_ops,
        format=format,
        passes=options,
        precision=precision,
        frontend=frontend,
        progress=progress,
    )
    if request.format == "coreai":
        from bridgec.driver import convert_coreai

        convert_coreai.validate(request)  # what --format coreai refuses, before the slow part
    lowered = lower(before.copy(), request)
    after, ctx = lowered.graph, lowered.context
    say("running onnxruntime on the graph after the passes")
    outputs["onnx_after"] = runtimes.run_onnxruntime(after, feeds, intermediates=per_node)
    if lowered.format == "coreai":
        from bridgec.driver import convert_coreai

        say("building the Core AI model and running it in Apple's Core AI runtime")
        outputs["coreai"] = convert_coreai.run_program(
            after.copy(), ctx.capabilities.target, model.name, feeds
        )
        notes.append(f"Core AI: .aimodel for {ctx.capabilities.target.name}, {precision} ({lowered.reason})")
        result = _result(reference, feeds, outputs, output_names, tolerance, notes, ctx, lowered)
        result.report.provenance = provenance.of_request(request, lowered)
        if per_node:  # Apple's runtime gives the graph's outputs only: the passes' stage is compared
            _per_node(
                result,
                [("onnx_before -> onnx_after", outputs["onnx_after"], outputs["onnx_before"])],
                after,
                tolerance,
                ctx,
            )
        return result
    say(f"building the Core ML model ({lowered.format})")
    built = build_model(after.copy(), ctx.capabilities.target, precision=precision, progress=progress)
    say("running the Core ML model in the reference executor")
    notes.append(f"Core ML format: {lowered.format}, {precision} ({lowered.reason})")
    unchecked: str | None = None
    try:
        # Core ML takes its declared dtypes (an int64 input is int32 there)
        outputs["coreml_reference"] = built.run_reference(
            coreml_feeds(built.spec, feeds), intermediates=per_node
        )
    except ExecutorError as exc:  # e.g. a custom layer with no bundled kernel has no reference either
        unchecked = f"not run: {exc}"
    unavailable = native.unavailable(built.spec)
    if unavailable is None:
        say("running Core ML")
        outputs["coreml"] = native.run(built, coreml_feeds(built.spec, feeds))
    else:
        notes.append(f"Core ML runtime: {unavailable}")

    result = _result(reference, feeds, outputs, output_names, tolerance, notes, ctx, lowered)
    result.report.provenance = provenance.of_request(request, lowered)
    if unchecked:
        result.comparisons += [
            Comparison(n, "coreml_reference", float("nan"), float("nan"), False, unchecked)
            for n in output_names
        ]
    result.report.interface = describe_interface(built.spec)
    if per_node:
        stages = [("onnx_before -> onnx_after", outputs["onnx_after"], outputs["onnx_before"])]
        if "coreml_reference" in outputs:
            stages.append(
                ("onnx_after -> coreml_reference", outputs["coreml_reference"], outputs["onnx_after"])
            )
        _per_node(result, stages, after, tolerance, ctx)
    return result


def _result(reference, feeds, outputs, output_names, tolerance, notes, ctx, lowered) -> VerifyResult:
    """Every runtime's outputs against the reference's, and the op report (for --report-out)."""
    comparisons = []
    for runtime, values in outputs.items():
        if runtime == reference:
            continue
        for name in output_names:
            max_abs, max_rel, ok, note = compare(
                np.asarray(values[name]), outputs[reference][name], tolerance
            )
            comparisons.append(Comparison(name, runtime, max_abs, max_rel, ok, note))
    result = VerifyResult(
        reference, feeds, {k: {n: v[n] for n in output_names} for k, v in outputs.items()}, comparisons, notes
    )
    result.context = ctx
    result.report = build_report(lowered)
    return result


def _per_node(result: VerifyResult, stages, after: gs.Graph, tolerance: float, ctx) -> None:
    for stage, got, want in stages:
        found, compared = first_divergence(stage, after, got, want, tolerance, ctx.created_by)
        result.per_node_compared[stage] = compared
        if found:
            result.divergences.append(found)


def render(result: VerifyResult, pipeline: str, tolerance: float) -> str:
    titles = {k: v.format(pipeline=pipeline) for k, v in RUNTIME_TITLES.items()}
    rows = [("output", "runtime", "max abs err", "max rel err", "result")]
    for c in result.comparisons:
        verdict = ("PASS" if c.passed else "FAIL") + (f" ({c.note})" if c.note else "")
        rows.append((c.output, titles[c.runtime], f"{c.max_abs:.3g}", f"{c.max_rel:.3g}", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) if j < 4 else cell for j, cell in enumerate(row)))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ------")
    lines.append(
        f"reference: {titles[result.reference]}; PASS means max|got - ref| <= {short(tolerance)} * max|ref| "
        "for each output (max rel err: the error relative to the output's scale)"
    )
    lines.extend(result.notes)
    for stage, compared in result.per_node_compared.items():
        hit = next((d for d in result.divergences if d.stage == stage), None)
        if hit:
            lines.append(
                f"per-node {stage}: first divergence at tensor {hit.tensor!r} from node {hit.node!r} "
                f"({hit.op}{', made by ' + hit.made_by if hit.made_by else ''}), max rel err {hit.max_rel:.3g} "
                f"(tensor {hit.compared} of those compared)"
            )
        else:
            lines.append(f"per-node {stage}: {compared} intermediate tensors compared, all within tolerance")
    failed = sum(not c.passed for c in result.comparisons)
    lines.append(
        f"{len(result.comparisons) - failed} passed, {failed} failed"
        if failed
        else f"all {plural(result.comparisons, 'comparison')} PASS"
    )
    return "\n".join(lines)


def data(result: VerifyResult, args: Any) -> dict:
    """The ``--json`` object's data (``cli_json.emit_json`` adds the version and command): every
    comparison, the inputs used and what was proven; ``args``: the verify command line's."""
    titles = {k: v.format(pipeline=args.pipeline) for k, v in RUNTIME_TITLES.items()}
    return {
        "model": str(args.model),
        "reference": {"runtime": result.reference, "title": titles[result.reference]},
        "tolerance": args.tolerance,
        "inputs": [
            {"name": name, "shape": list(np.shape(value)), "dtype": str(np.asarray(value).dtype)}
            for name, value in result.feeds.items()
        ],
        "seed": None if args.inputs is not None else args.seed,
        "inputs_file": None if args.inputs is None else str(args.inputs),
        "comparisons": [{**asdict(c), "title": titles[c.runtime]} for c in result.comparisons],
        "per_node": [
            {
                "stage": stage,
                "compared": compared,
                "divergence": next((asdict(d) for d in result.divergences if d.stage == stage), None),
            }
            for stage, compared in result.per_node_compared.items()
        ],
        "notes": result.notes,
        "passed": result.passed,
    }


def save_outputs(result: VerifyResult, path: Path) -> None:
    """``runtime.output`` keys, e.g. ``pytorch.output`` and ``coreml_reference.output``."""
    arrays = {
        f"{runtime}.{name}": value
        for runtime, values in result.outputs.items()
        for name, value in values.items()
    }
    _save_npz(path, arrays)


def save_inputs(result: VerifyResult, path: Path) -> None:
    _save_npz(path, result.feeds)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_file(buffer.getvalue(), path)
