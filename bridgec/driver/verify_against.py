"""``bridgec verify ARTIFACT --against SOURCE``: check a model that already exists against its source.

The artifact (``verify_artifact``: read as it is, not converted again) and the source model (PyTorch
for ``.pt``/``.pt2``, onnxruntime for ``.onnx``, read by the frontend as a conversion reads it) are
paired input by input and output by output — by name where the names agree, else by position, and the
result says so — and run on the same inputs: seeded random ones drawn as the conversion's check draws
them (``check_inputs.check_feeds``: image pixels through the model's preprocessing, integer inputs
within the tables they index), or the user's ``--inputs``. The comparison is the conversion's check
itself (``check.run_check`` for Core ML: classifier dictionaries, the first diverging layer on a
failure), so a verified artifact has passed exactly what a conversion proves before it writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bridgec import frontends
from bridgec.core.errors import BridgecError, UsageError
from bridgec.core.input_values import random_inputs
from bridgec.core.numerics import TOLERANCES
from bridgec.core.tensor_spec import TensorSpec, dtype_name
from bridgec.core.words import plural
from bridgec.driver import check as check_mod
from bridgec.driver.check_inputs import as_input_dtype, check_feeds, shape_label, source_outputs
from bridgec.driver.verify_artifact import EXECUTOR, Artifact, CoreMLRun, Port, open_artifact, run_coreai


@dataclass(frozen=True)
class Pair:
    """One input or output as both sides name it (and, for an input, the shape and dtype fed)."""

    artifact: str
    source: str
    shape: tuple[int, ...] = ()
    dtype: str = ""


@dataclass
class AgainstResult:
    artifact: Artifact
    source: Path
    source_format: str
    check: check_mod.Check
    inputs: list[Pair]
    outputs: list[Pair]
    matched: dict[str, str]  # "inputs" / "outputs" -> "name" or "position"
    runtime: str  # what ran the artifact
    tolerance: float
    seed: int | None  # None: the inputs came from --inputs
    inputs_file: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.check.status == check_mod.CHECKED


def verify_against(
    artifact_path: Path,
    source_path: Path,
    *,
    inputs: Mapping[str | None, Any] | None = None,
    feeds_file: Path | None = None,
    seed: int = 0,
    tolerance: float | None = None,
    frontend: frontends.LoadOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> AgainstResult:
    """Run ``artifact_path`` and ``source_path`` on the same inputs and compare every output.
    ``inputs``: ``--input`` shapes by the artifact's input names (one shape of a flexible artifact)."""
    say = progress or (lambda message: None)
    say(f"reading {artifact_path}")
    artifact = open_artifact(Path(artifact_path))
    notes: list[str] = []
    shapes = _chosen_shapes(artifact, inputs or {}, notes)
    say(f"loading {source_path}")
    source = _open_source(artifact, shapes, Path(source_path), frontend)
    matched: dict[str, str] = {}
    in_names = _pair("inputs", artifact, [p.name for p in artifact.inputs], source, matched)
    pairs = _input_pairs(artifact, source, shapes, in_names)
    probabilities, scores = _scores(artifact, source)
    source_outputs = [t.name for t in source.graph.outputs if t.name != scores]
    out_names = _pairing(
        artifact, [p.name for p in artifact.outputs], source.path, source_outputs, "outputs", matched
    )
    _same_output_shapes(artifact, source, out_names)
    if scores:
        out_names[probabilities] = scores
    outputs = [Pair(a, s) for a, s in out_names.items()]
    precision = artifact.precision
    tolerance = tolerance if tolerance is not None else TOLERANCES[precision]
    example = random_inputs(source.graph, np.random.default_rng(seed))
    given = _given(feeds_file, pairs) if feeds_file is not None else None
    images = [
        dataclasses.replace(p.image, name=in_names[p.name]) for p in artifact.inputs if p.image is not None
    ]
    notes += [
        f"image input {i.name}: its scale {i.scale:g} and bias {', '.join(f'{b:g}' for b in i.bias)} "
        f"({i.color_layout}) read from {artifact.name}"
        for i in images
    ]
    if len(images) > 1:
        raise UsageError(
            f"{artifact.name} has {len(images)} image inputs; bridgec verify --against feeds one"
        )
    source_feeds, model_feeds, user = check_feeds(source.graph, given, example, images[0] if images else None)
    model_feeds = {p.artifact: model_feeds[p.source] for p in pairs}
    if artifact.format == "coreai":
        check, runtime = _check_coreai(
            artifact, source, source_feeds, model_feeds, outputs, precision, tolerance, user, say
        )
    else:
        import platform

        elsewhere = "runs only on macOS" if platform.system() != "Darwin" else "is not run by --against"
        runtime = f"{EXECUTOR} (Core ML itself {elsewhere})"
        renamed = {a: s for a, s in out_names.items() if a != probabilities}
        subject = check_mod.Subject(
            built=CoreMLRun(artifact, renamed),
            graph=source.graph,
            reference=source.reference,
            run_source=source.run,
            source_model=source.onnx_model,
            source_weights=source.onnx_weights,
            precision=precision,
            classifier=_classifier(scores, artifact.labels) if scores else None,
        )
        check = check_mod.run_check(
            subject, source_feeds, model_feeds, user_inputs=user, tolerance=tolerance, progress=say
        )
    if feeds_file is not None:  # the check's own wording would say --check-input
        check.user_inputs = False
        notes.append(f"on --inputs {feeds_file}")
    if "position" in matched.values():
        kinds = " and ".join(k for k, v in matched.items() if v == "position")
        named = "; ".join(f"{p.artifact} = {p.source}" for p in (*pairs, *outputs) if p.artifact != p.source)
        notes.append(f"{kinds} matched by position ({artifact.name} = {source.path.name}: {named})")
    if check.status == check_mod.CHECKED:
        check.notes += [*artifact.notes, *notes]
    return AgainstResult(
        artifact,
        source.path,
        source.format,
        check,
        pairs,
        outputs,
        matched,
        runtime,
        tolerance,
        None if feeds_file is not None else seed,
        feeds_file,
        [*artifact.notes, *notes],
    )


def _input_pairs(
    artifact: Artifact, source: frontends.Source, shapes: dict[str, tuple[int, ...]], names: dict[str, str]
) -> list[Pair]:
    """Each artifact input with the source input it feeds; both must take the shape it runs at."""
    tensors = {t.name: t for t in source.graph.inputs}
    pairs = []
    for port in artifact.inputs:
        tensor = tensors[names[port.name]]
        if tuple(tensor.shape) != shapes[port.name]:
            raise UsageError(
                f"input shapes differ: {artifact.name} takes {port.name} {_dims(shapes[port.name])}, "
                f"{source.path.name} takes {tensor.name} {_dims(tensor.shape)}; pass --input {port.name}:DIMS "
                "with a shape both take, or export the source at the artifact's shape"
            )
        dtype = np.dtype(tensor.dtype if tensor.dtype is not None else np.float32)
        fed = f"image {port.image.color_layout} pixels" if port.image is not None else dtype_name(dtype)
        pairs.append(Pair(port.name, tensor.name, shapes[port.name], fed))
    return pairs


def _dims(shape: Sequence[Any]) -> str:
    return "x".join(str(d) for d in shape)


def _chosen_shapes(
    artifact: Artifact, given: Mapping[str | None, Any], notes: list[str]
) -> dict[str, tuple[int, ...]]:
    """The shape each artifact input is run at: ``--input``'s (within what the artifact takes), else
    the artifact's declared one."""
    ports = {p.name: p for p in artifact.inputs}
    chosen: dict[str, tuple[int, ...]] = {}
    for key, value in given.items():
        name = key
        if name is None:
            if len(ports) != 1:
                raise UsageError(
                    f"--input: {artifact.name} has {plural(ports, 'input')} ({', '.join(ports)}); name each as NAME:DIMS"
                )
            name = next(iter(ports))
        if name not in ports:
            raise UsageError(
                f"--input {name}: not an input of {artifact.name} (its inputs: {', '.join(ports)})"
            )
        shape = TensorSpec.of(value).shape
        allowed = _refusal(ports[name], shape)
        if allowed:
            raise UsageError(f"--input {name}:{_dims(shape)}: {artifact.name} takes {allowed} there")
        chosen[name] = shape
    for port in artifact.inputs:
        if port.name in chosen:
            continue
        if not port.shape or any(d < 0 for d in port.shape):
            raise UsageError(
                f"{artifact.name}: input {port.name} is flexible ({port.flexible or 'shape set when run'}) with no "
                f"default shape; pick one with --input {port.name}:DIMS"
            )
        chosen[port.name] = port.shape
        if port.flexible:
            notes.append(
                f"input {port.name} is flexible ({port.flexible}): run at its default {_dims(port.shape)} "
                f"(--input {port.name}:DIMS runs another)"
            )
    return chosen


def _same_output_shapes(artifact: Artifact, source: frontends.Source, names: dict[str, str]) -> None:
    """Outputs both sides declare a whole shape of must agree on it (a flexible one declares none)."""
    tensors = {t.name: t for t in source.graph.outputs}
    for port in artifact.outputs:
        theirs = tuple(tensors[names[port.name]].shape or ())
        static = all(isinstance(d, int) and d >= 0 for d in (*port.shape, *theirs))
        if port.shape and theirs and static and not port.flexible and port.shape != theirs:
            raise UsageError(
                f"output shapes differ: {artifact.name} gives {port.name} {_dims(port.shape)}, "
                f"{source.path.name} gives {names[port.name]} {_dims(theirs)}; give --against the model "
                f"{artifact.name} was converted from"
            )


def _refusal(port: Port, shape: tuple[int, ...]) -> str:
    """What ``port`` takes, when ``shape`` is not among it ("" when it is)."""
    if port.feature is not None:
        from bridgec.backends.coreml.executor.model_io import shape_ok

        ok, allowed = shape_ok(shape, port.feature)
        return "" if ok else port.flexible or allowed
    fits = len(shape) == len(port.shape) and all(d in (-1, s) for s, d in zip(shape, port.shape, strict=True))
    return "" if fits else _dims(d if d >= 0 else "?" for d in port.shape) if port.shape else "other shapes"


def _open_source(
    artifact: Artifact, shapes: dict[str, tuple[int, ...]], path: Path, frontend: frontends.LoadOptions | None
) -> frontends.Source:
    """The source, read at the artifact's shapes (keyed by the source's input names)."""
    fmt = frontends.detect_format(path)

    def spec(port: Port) -> TensorSpec:
        # a TorchScript or pickled module records no dtypes: integer inputs are the int64 indices
        # PyTorch's index ops take (Core ML holds them as int32)
        integer = port.dtype.kind in "iu" and fmt in ("torchscript", "pickle")
        return TensorSpec(shapes[port.name], "int64" if integer else None)

    if len(artifact.inputs) == 1:
        try:
            return frontends.open_source(path, {None: spec(artifact.inputs[0])}, frontend)
        except UsageError:
            names = _source_inputs(path, fmt, frontend)
            if len(names) != 1:
                _mismatch("inputs", artifact, [artifact.inputs[0].name], path, names)
            raise
    names = _source_inputs(path, fmt, frontend)
    found: dict[str, str] = {}
    by_name = _pairing(artifact, [p.name for p in artifact.inputs], path, names, "inputs", found)
    return frontends.open_source(path, {by_name[p.name]: spec(p) for p in artifact.inputs}, frontend)


def _source_inputs(path: Path, fmt: str, frontend: frontends.LoadOptions | None) -> list[str]:
    if fmt in frontends.TORCH_FORMATS:
        from bridgec.frontends.pytorch_load import load_module

        return load_module(path, fmt, frontend).inputs
    return frontends._onnx_input_names(path)  # noqa: SLF001 - the frontend's own reading of an .onnx's inputs


def _pair(
    kind: str, artifact: Artifact, names: list[str], source: frontends.Source, matched: dict
) -> dict[str, str]:
    tensors = source.graph.inputs if kind == "inputs" else source.graph.outputs
    return _pairing(artifact, names, source.path, [t.name for t in tensors], kind, matched)


def _pairing(
    artifact: Artifact, names: list[str], path: Path, source_names: list[str], kind: str, matched: dict
) -> dict[str, str]:
    """artifact name -> source name: by name when both sides have the same names, else by position."""
    if sorted(names) == sorted(source_names):
        matched[kind] = "name"
        return {n: n for n in names}
    if len(names) != len(source_names):
        _mismatch(kind, artifact, names, path, source_names)
    matched[kind] = "position"
    return dict(zip(names, source_names, strict=True))


def _mismatch(kind: str, artifact: Artifact, names: list[str], path: Path, source_names: list[str]) -> None:
    raise UsageError(
        f"{kind} differ: {artifact.name} has {len(names)} ({', '.join(names)}), {path.name} has "
        f"{len(source_names)} ({', '.join(source_names)}); give --against the model {artifact.name} was converted from"
    )


def _scores(artifact: Artifact, source: frontends.Source) -> tuple[str, str | None]:
    """(a classifier's probability dictionary, the source output of the scores it holds): the output
    of that name, else the one source output no tensor output of the artifact pairs with."""
    if not artifact.labels:
        return "", None
    probabilities = artifact.spec.description.predictedProbabilitiesName
    names = [t.name for t in source.graph.outputs]
    if probabilities in names:
        return probabilities, probabilities
    left = [n for n in names if n not in {p.name for p in artifact.outputs}]
    if len(left) != 1:
        _mismatch(
            "outputs", artifact, [p.name for p in artifact.outputs] + [probabilities], source.path, names
        )
    return probabilities, left[0]


def _given(feeds_file: Path, pairs: list[Pair]) -> dict[str, np.ndarray]:
    """``--inputs``' arrays by the source's input names (the file may use either side's names)."""
    from bridgec.core.input_files import read_npz

    arrays = read_npz(feeds_file, f"--inputs {feeds_file}")
    given = {}
    for pair in pairs:
        key = pair.artifact if pair.artifact in arrays else pair.source
        if key not in arrays:
            raise UsageError(
                f"--inputs {feeds_file} has no array named {pair.artifact!r} (it has: {', '.join(arrays) or 'none'})"
            )
        given[pair.source] = arrays[key]
    return given


def _classifier(scores: str, labels: tuple) -> Any:
    from bridgec.backends.coreml.classifier import Classifier

    return Classifier(scores, labels)


def _check_coreai(
    artifact: Artifact,
    source: frontends.Source,
    source_feeds: dict[str, np.ndarray],
    model_feeds: dict[str, np.ndarray],
    outputs: list[Pair],
    precision: str,
    tolerance: float,
    user: bool,
    say: Callable[[str], None],
) -> tuple[check_mod.Check, str]:
    """The ``.aimodel`` against the source, as the conversion's Core AI check compares them."""
    from bridgec.driver.convert_coreai import REFERENCE_RUNTIME, judge, kernels_note

    ports = {p.name: p for p in artifact.inputs}
    # int64 ids as the int32 a Core AI model takes, refused (one line) when they do not fit
    feeds = {n: as_input_dtype(f"input {n}", v, ports[n].dtype) for n, v in model_feeds.items()}
    names = [t.name for t in source.graph.outputs]
    want = source_outputs(source.run, source_feeds, source.reference, user_inputs=user)
    if isinstance(want, str):
        return check_mod.not_checked(want), REFERENCE_RUNTIME
    dead = check_mod.nonfinite_reason(source.reference, want, names)
    if dead:
        return check_mod.not_checked(dead), REFERENCE_RUNTIME
    say(f"checking the numbers: {source.reference} against {artifact.name}")
    result = check_mod.Check(check_mod.CHECKED, source.reference, precision, tolerance, user_inputs=user)
    try:
        got, runtime = run_coreai(artifact, feeds)
    except BridgecError as error:
        result.status, result.reason = check_mod.FAILED, str(error)
        return result, REFERENCE_RUNTIME
    renamed = {p.artifact: p.source for p in outputs}
    got = {renamed.get(k, k): v for k, v in got.items()}
    result.outputs = check_mod.compare_outputs(got, want, names, tolerance)
    result.shapes.append(shape_label(feeds))
    if artifact.kernels:
        result.notes.append(kernels_note(artifact.kernels))
    judge(result, runtime)
    return result, runtime


# ---------------------------------------------------------------------------------- what is printed


def render(result: AgainstResult) -> str:
    """The comparison table, what ran what, and last the check's line."""
    artifact, check = result.artifact, result.check
    lines = []
    by_source = {p.source: p.artifact for p in result.outputs}
    if check.outputs:
        rows = [
            ("output", f"{result.source.name} output", "max abs err", "max rel err", "tolerance", "result")
        ]
        for o in check.outputs:
            verdict = ("PASS" if o.passed else "FAIL") + (f" ({o.note})" if o.note else "")
            rows.append(
                (
                    by_source.get(o.name, o.name),
                    o.name,
                    f"{o.max_abs:.3g}",
                    f"{o.max_rel:.3g}",
                    check_mod.short(check.tolerance),
                    verdict,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for i, row in enumerate(rows):
            lines.append("  ".join([*(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)), row[5]]))
            if i == 0:
                lines.append("  ".join("-" * w for w in widths) + "  ------")
    fed = "--inputs " + str(result.inputs_file) if result.seed is None else f"random, --seed {result.seed}"
    lines.append(
        f"inputs ({fed}): " + ", ".join(f"{p.artifact} {_dims(p.shape)} {p.dtype}" for p in result.inputs)
    )
    lines.append(
        f"artifact: {artifact.name}, {artifact.format_name} {artifact.precision}, run in {result.runtime}; "
        f"source: {result.source.name}, run in {check.reference or 'the source runtime'}"
    )
    lines.append(last_line(result))
    return "\n".join(lines)


def last_line(result: AgainstResult) -> str:
    """The conversion's check line; the notes (outputs paired by position...) also when it failed."""
    if result.check.status == check_mod.CHECKED:  # run_check's line carries them already
        return result.check.line()
    notes = "; ".join(result.notes)
    return result.check.line() + (f" ({notes})" if notes else "")


def data(result: AgainstResult) -> dict:
    """The ``--json`` object's data (``cli_json.emit_json`` adds the version and command)."""
    check = result.check.to_dict()
    by_source = {p.source: p.artifact for p in result.outputs}
    return {
        "artifact": {
            "path": str(result.artifact.path),
            "format": result.artifact.format,
            "precision": result.artifact.precision,
            "runtime": result.runtime,
        },
        "source": {
            "path": str(result.source),
            "format": result.source_format,
            "reference": result.check.reference,
        },
        "matched_by": result.matched,
        "inputs": [
            {"name": p.artifact, "source_name": p.source, "shape": list(p.shape), "dtype": p.dtype}
            for p in result.inputs
        ],
        "seed": result.seed,
        "inputs_file": None if result.inputs_file is None else str(result.inputs_file),
        "tolerance": result.tolerance,
        "outputs": [
            {"name": by_source.get(o["name"], o["name"]), "source_name": o["name"]}
            | {k: o[k] for k in ("max_abs", "max_rel", "passed", "note")}
            for o in check["outputs"]
        ],
        "status": result.check.status,
        "passed": result.passed,
        "notes": result.notes,
        "line": last_line(result),
    }


__all__ = ["AgainstResult", "Pair", "data", "render", "verify_against"]
