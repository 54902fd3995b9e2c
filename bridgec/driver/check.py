"""The numbers check every conversion runs before it writes anything.

The emitted Core ML model is run by the reference executor (numpy, with the semantics of Apple's
NeuralNetwork.proto and MIL op reference; ``backends/coreml/executor``) on a seeded random input, or
on the user's ``--check-input``, and its outputs are compared with the source model's: PyTorch for a
PyTorch file, onnxruntime on the file's graph for an ``.onnx`` file. The metric and the tolerances per
precision are ``bridgec.core.numerics``'. A mismatch fails the conversion, naming the worst output and the
first node whose tensor leaves the tolerance (found by comparing intermediate tensors stage by stage:
PyTorch -> the exported ONNX graph -> the graph after the passes -> the Core ML model).

What cannot be checked is said, never passed off as checked: an op the executor has no semantics for,
a source model that cannot be run again, outputs the source computes as NaN or infinity everywhere.
An output the source computes as one value everywhere (an untrained network's zero-initialised head)
is compared, but the comparison proves little, and the line says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.errors import BridgecError, ConversionError
from bridgec.core.numerics import TOLERANCES, Difference, difference
from bridgec.core.words import noun, plural
from bridgec.driver.check_inputs import coreml_feeds, shape_label, source_outputs

CHECKED, FAILED, NOT_CHECKED = "checked", "failed", "not checked"


class CheckFailed(ConversionError):
    """The emitted model's numbers differ from the source model's beyond the tolerance."""

    def __init__(self, check: Check) -> None:
        self.check = check
        super().__init__(check.line())


class NotChecked(ConversionError):
    """``--strict``: the model could not be checked, so it is not written."""


@dataclass
class OutputCheck:
    name: str
    max_abs: float
    max_rel: float
    passed: bool
    nonfinite: int = 0  # elements the reference computes as NaN or infinity (got must match them there)
    size: int = 0
    note: str = ""


@dataclass
class Compression:
    """``--compress``: what it saved, and the compressed model's error against the reference on the
    check's input (measured, not judged, unless ``tolerance`` came from an explicit --tolerance)."""

    mode: str
    granularity: str
    size_before: int  # bytes of weights (backends.coreml.compress.weight_bytes)
    size_after: int
    outputs: list[OutputCheck] = field(default_factory=list)  # empty: not measured (see reason)
    reason: str = ""
    tolerance: float | None = None

    @property
    def ratio(self) -> float:
        return self.size_after / self.size_before if self.size_before else 1.0

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    def line(self, reference: str) -> str:
        sizes = f"weights {_megabytes(self.size_before)} -> {_megabytes(self.size_after)} ({self.ratio:.2f}x)"
        error = (
            f"max rel err {self.max_rel:.2g} against {reference}"
            if self.outputs
            else f"error not measured ({self.reason})"
        )
        return f"compressed {self.mode}, {self.granularity}: {sizes}, {error}"


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 10_000 else f"{size} B"


@dataclass
class Check:
    """What the check proved about one emitted model."""

    status: str  # checked | failed | not checked
    reference: str = ""  # what the outputs were compared against: "PyTorch" or "onnxruntime"
    precision: str = "fp32"
    tolerance: float = 0.0
    outputs: list[OutputCheck] = field(default_factory=list)
    reason: str = ""  # not checked: why; failed: the worst output and where it diverges
    shapes: list[str] = field(default_factory=list)  # the input shapes the model was run at
    user_inputs: bool = False  # --check-input gave (some of) the inputs
    notes: list[str] = field(default_factory=list)  # limits of what was proven, shown in the line
    compression: Compression | None = None  # --compress: the written model is this one, compressed

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    def line(self) -> str:
        """The one line the CLI ends with."""
        line = self._line()
        if self.compression is not None and self.status != FAILED:
            line += "; " + self.compression.line(self.reference or "the source")
        return line

    def _line(self) -> str:
        if self.status == NOT_CHECKED:
            return f"NOT checked: {self.reason}"
        if self.status == FAILED:
            return f"check failed: {self.reason}"
        count = len(self.outputs)
        line = (
            f"checked: {plural(count, 'output')}, max rel err {self.max_rel:.2g} "
            f"({self.precision} tolerance {short(self.tolerance)}) against {self.reference}"
        )
        if self.user_inputs:
            line += " on --check-input"
        if len(self.shapes) > 1:
            line += f" at {plural(self.shapes, 'shape')} ({'; '.join(self.shapes)})"
        partial = [o for o in self.outputs if o.nonfinite]
        if partial:
            line += "; " + ", ".join(
                f"{o.name!r} is NaN/inf in {self.reference} at {o.nonfinite} of {o.size} elements (matched there)"
                for o in partial
            )
        if self.notes:
            line += "; " + "; ".join(self.notes)
        return line

    def to_dict(self) -> dict:
        data = asdict(self)
        data["line"] = self.line()
        compressed = []
        if self.compression is not None:
            data["compression"]["ratio"] = self.compression.ratio
            compressed = data["compression"]["outputs"]
        for output in [*data["outputs"], *compressed]:
            for key in ("max_abs", "max_rel"):  # JSON has no NaN / infinity
                if not np.isfinite(output[key]):
                    output[key] = -1.0
        return data


def short(value: float) -> str:
    """1e-4 rather than 0.0001: tolerances read as orders of magnitude."""
    mantissa, _, exponent = f"{value:.1e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def not_checked(reason: str) -> Check:
    return Check(NOT_CHECKED, reason=reason)


# ---------------------------------------------------------------------------------- what the executor lacks


def executor_gaps(model: Any) -> dict[str, list[str]]:
    """Layer kinds / MIL ops of ``model`` (a BuiltModel) the reference executor has no semantics for,
    each with the layers that use it. Custom layers count as the op they compute, known when bridgec
    bundles a kernel (and so a numpy reference) for the class."""
    gaps: dict[str, list[str]] = {}
    if model.format == "neuralnetwork":
        from bridgec.backends.coreml.executor import LAYERS
        from bridgec.runtime_kernels.catalog import KERNELS

        network = getattr(model.spec, model.spec.WhichOneof("Type"))
        for layer in network.layers:
            kind = layer.WhichOneof("layer")
            if kind == "custom":
                if layer.custom.className not in KERNELS:
                    gaps.setdefault(f"custom layer {layer.custom.className}", []).append(layer.name)
            elif kind not in LAYERS:
                gaps.setdefault(kind, []).append(layer.name)
        return gaps
    from bridgec.backends.coreml.executor.mlprogram import OPS

    for function in model.spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                name = op.outputs[0].name if op.outputs else op.type
                if op.type == "const":  # the program's own values, decoded by the executor itself
                    continue
                if op.type not in OPS:
                    gaps.setdefault(op.type, []).append(name)
                elif len(op.blocks):
                    gaps.setdefault(f"{op.type} with nested blocks", []).append(name)
    return gaps


def gap_reason(gaps: dict[str, list[str]]) -> str:
    parts = []
    for kind, layers in sorted(gaps.items()):
        shown = ", ".join(layers[:3]) + (f", +{len(layers) - 3} more" if len(layers) > 3 else "")
        parts.append(f"{kind} (nodes {shown})")
    return "the reference executor lacks " + "; ".join(parts)


# ---------------------------------------------------------------------------------- comparing


def compare_outputs(
    got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], names: list[str], tolerance: float
) -> list[OutputCheck]:
    checks = []
    for name in names:
        expected = np.asarray(want[name])
        actual = got.get(name)
        if actual is None:
            checks.append(
                OutputCheck(name, float("inf"), float("inf"), False, note="missing from the Core ML model")
            )
            continue
        actual = np.asarray(actual)
        if actual.shape != expected.shape and actual.size == expected.size == 1:
            actual = actual.reshape(expected.shape)  # Core ML has no rank-0 tensors
        diff = difference(actual, expected)
        checks.append(
            OutputCheck(
                name,
                diff.max_abs,
                diff.max_rel,
                diff.within(tolerance),
                diff.nonfinite,
                diff.size,
                diff.note or ("NaN/inf where the reference differs" if diff.mismatched_nonfinite else ""),
            )
        )
    return checks


def nonfinite_reason(reference: str, want: Mapping[str, np.ndarray], names: list[str]) -> str | None:
    """Why the outputs cannot be judged when the source itself computes nothing finite, or None."""
    dead = []
    for name in names:
        value = np.asarray(want[name])
        if (
            (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.complexfloating))
            and value.size
            and not np.isfinite(value).any()
        ):
            dead.append(name)
    if not dead:
        return None
    quoted = ", ".join(repr(n) for n in dead)
    return (
        f"{reference} itself computes {noun(dead, 'output')} {quoted} as NaN or infinity everywhere "
        "on the check input; pass --check-input NAME=FILE.npy with data the model is meant for"
    )


def constant_outputs(want: Mapping[str, np.ndarray], names: list[str]) -> dict[str, float]:
    """The floating outputs of ``names`` that hold one finite value in every element (two or more),
    with that value."""
    found = {}
    for name in names:
        value = np.asarray(want[name])
        if not np.issubdtype(value.dtype, np.floating) or value.size < 2:
            continue
        first = value.flat[0]
        if np.isfinite(first) and (value == first).all():
            found[name] = float(first) + 0.0  # -0.0 shown as 0
    return found


def constant_note(reference: str, constant: Mapping[str, float]) -> str:
    """The warning for outputs ``constant_outputs`` found: a network that is wrong upstream of a
    constant (a zero-initialised head multiplies everything by 0) matches them as well as a right one."""
    shown = ", ".join(f"{name!r} is {value:.6g} everywhere" for name, value in constant.items())
    return (
        f"warning: {noun(constant, 'output')} {shown} in {reference} on the check input, so the comparison "
        f"cannot tell a wrong network from a right one for {noun(constant, 'it', 'them')}; pass --check-input "
        "NAME=FILE.npy with data the model is meant for, or convert it with trained weights"
    )


@dataclass
class Divergence:
    """The first tensor, in graph order, where one stage leaves the tolerance against the one before."""

    stage: str  # e.g. "onnx_after -> coreml_reference"
    tensor: str
    node: str
    op: str
    max_abs: float
    max_rel: float
    compared: int  # tensors compared before and including this one
    made_by: str = ""  # the pass that created the node, when a pass recorded it


def first_divergence(
    stage: str,
    graph: gs.Graph,
    got: Mapping[str, np.ndarray],
    want: Mapping[str, np.ndarray],
    tolerance: float,
    created_by: Mapping[str, str] | None = None,
) -> tuple[Divergence | None, int]:
    """Walk ``graph``'s nodes in order and compare each output tensor ``got`` and ``want`` both have
    (an ML Program names its values as MIL identifiers); (the first one out of tolerance, how many
    tensors were compared)."""
    from bridgec.backends.coreml.mlprogram import mil_identifier

    compared = 0
    for node in graph.nodes:
        for tensor in node.outputs:
            key = tensor.name if tensor.name in got else mil_identifier(tensor.name)
            if key not in got or tensor.name not in want:
                continue
            a, b = np.asarray(got[key]), np.asarray(want[tensor.name])
            if not (np.issubdtype(a.dtype, np.floating) and np.issubdtype(b.dtype, np.floating)):
                continue
            if a.shape != b.shape and a.size == b.size:
                a = a.reshape(b.shape)
            compared += 1
            diff = difference(a, b)
            if not diff.within(tolerance):
                made_by = (created_by or {}).get(node.name, "")
                return (
                    Divergence(
                        stage,
                        tensor.name,
                        node.name,
                        ir.op_label(node),
                        diff.max_abs,
                        diff.max_rel,
                        compared,
                        made_by,
                    ),
                    compared,
                )
    return None, compared


# ---------------------------------------------------------------------------------- the check


@dataclass
class Subject:
    """What is checked: the emitted model, the graph it was emitted from, and how to run the source."""

    built: Any  # BuiltModel
    graph: gs.Graph  # the graph after the passes (what was emitted)
    reference: str  # "PyTorch" or "onnxruntime"
    run_source: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    source_model: Any = None  # the ONNX ModelProto before the passes (to tell the export from a pass)
    source_weights: dict[str, np.ndarray] | None = None  # its weights kept apart: graph inputs
    precision: str = "fp32"
    created_by: Mapping[str, str] = field(
        default_factory=dict
    )  # node name -> the pass (and rule) that made it
    classifier: Any = None  # backends.coreml.classifier.Classifier of --labels: the scores and their labels


def run_check(
    subject: Subject,
    source_feeds: dict[str, np.ndarray],
    model_feeds: dict[str, np.ndarray],
    *,
    user_inputs: bool = False,
    tolerance: float | None = None,
    more_shapes: list[tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]] = (),
    progress: Callable[[str], None] | None = None,
    expected: dict[str, np.ndarray] | str | None = None,
) -> Check:
    """Run the check (see the module docstring). ``more_shapes``: (label, source feeds, model feeds)
    of further input shapes a flexible model takes; ``expected``: ``source_outputs`` of the first
    feeds, when the caller ran the source already. Raises nothing for a mismatch: the result's status
    says it (``convert`` turns it into CheckFailed)."""
    say = progress or (lambda message: None)
    tolerance = tolerance if tolerance is not None else TOLERANCES[subject.precision]
    names = [t.name for t in subject.graph.outputs]
    gaps = executor_gaps(subject.built)
    if gaps:
        return not_checked(gap_reason(gaps))
    runs = [(shape_label(source_feeds), source_feeds, model_feeds), *more_shapes]
    result = Check(CHECKED, subject.reference, subject.precision, tolerance, user_inputs=user_inputs)
    constant: dict[str, float] | None = None  # outputs constant at every shape run so far
    for label, src_feeds, ml_feeds in runs:
        # the source takes its own dtypes (int64 token ids); Core ML the ones its model declares
        ml_feeds = coreml_feeds(subject.built.spec, ml_feeds)
        say(
            f"checking the numbers: {subject.reference} against the Core ML model (reference executor) at {label}"
        )
        want = expected if expected is not None and label == runs[0][0] else None
        if want is None:
            want = source_outputs(subject.run_source, src_feeds, subject.reference, label, user_inputs)
        if isinstance(want, str):
            return not_checked(want)
        missing = [n for n in names if n not in want]
        if missing:
            return not_checked(f"{subject.reference} gives no output named {', '.join(map(repr, missing))}")
        dead = nonfinite_reason(subject.reference, want, names)
        if dead:
            return not_checked(dead)
        found = constant_outputs(want, names)
        constant = found if constant is None else {n: v for n, v in constant.items() if n in found}
        try:
            got = subject.built.run_reference(ml_feeds)
        except BridgecError as exc:  # an executor gap found while running (a variant of a known layer)
            return not_checked(f"the reference executor could not run the model: {exc}")
        classified = []
        if subject.classifier is not None:
            from bridgec.driver.check_classifier import classifier_outputs

            got, found = classifier_outputs(subject.built.spec, got, want, subject.classifier, tolerance)
            classified = [
                OutputCheck(c.name, c.max_abs, c.max_rel, c.passed, size=1, note=c.note) for c in found
            ]
        outputs = compare_outputs(got, want, names, tolerance) + classified
        result.shapes.append(label)
        if result.outputs:  # a further shape: keep the worst of each output
            outputs = [
                max(a, b, key=lambda o: (not o.passed, o.max_rel))
                for a, b in zip(result.outputs, outputs, strict=True)
            ]
        result.outputs = outputs
        failed = [o for o in outputs if not o.passed]
        if failed:
            result.status = FAILED
            worst = max(failed, key=lambda o: o.max_rel if np.isfinite(o.max_rel) else float("inf"))
            where = diagnose(subject, src_feeds, ml_feeds, want, tolerance, say)
            result.reason = (
                f"output {worst.name!r} differs from {subject.reference} by max rel err {worst.max_rel:.3g} "
                f"({subject.precision} tolerance {short(tolerance)}{'; ' + worst.note if worst.note else ''})"
                f"{' at ' + label if len(runs) > 1 else ''}; {where}"
            )
            return result
    if constant:
        result.notes.append(constant_note(subject.reference, constant))
    return result


def diagnose(
    subject: Subject,
    source_feeds: dict[str, np.ndarray],
    model_feeds: dict[str, np.ndarray],
    want: Mapping[str, np.ndarray],
    tolerance: float,
    say: Callable[[str], None],
) -> str:
    """Where the numbers leave the source's: the export, a pass, or a Core ML layer (named by node)."""
    from bridgec.core import runtimes

    say("the check failed: comparing intermediate tensors to find where")
    names = [t.name for t in subject.graph.outputs]
    try:
        after = runtimes.run_onnxruntime(subject.graph, source_feeds, intermediates=True)
    except BridgecError:
        after = None
    if after is not None and not all(
        difference(np.asarray(after[n]), np.asarray(want[n])).within(tolerance) for n in names if n in after
    ):
        # the graph handed to Core ML is already wrong: the export or a pass
        before = None
        if subject.source_model is not None:
            try:
                before = runtimes.run_model(
                    _with_intermediates(subject.source_model),
                    {**source_feeds, **(subject.source_weights or {})},
                )
            except BridgecError:
                before = None
        if before is not None and not all(
            difference(np.asarray(before[n]), np.asarray(want[n])).within(tolerance)
            for n in names
            if n in before
        ):
            return (
                f"the exported ONNX graph already differs from {subject.reference} (an exporter mistranslation, "
                "before any bridgec pass); try --exporter dynamo or --exporter torchscript"
            )
        if before is not None:
            found, _ = first_divergence(
                "onnx_before -> onnx_after", subject.graph, after, before, tolerance, subject.created_by
            )
            if found:
                by = f", made by {found.made_by}" if found.made_by else ""
                return (
                    f"a pass changed the numbers first at node {found.node!r} ({found.op}{by}), tensor "
                    f"{found.tensor!r} max rel err {found.max_rel:.3g}; --verify-each names the pass"
                )
        return "the graph after the passes already differs; bridgec verify --per-node and --verify-each localise it"
    try:
        coreml = subject.built.run_reference(model_feeds, intermediates=True)
    except BridgecError as exc:
        return f"(the per-node search could not run: {exc})"
    if after is None:
        return "(onnxruntime could not run the graph after the passes, so no node could be named)"
    found, compared = first_divergence(
        "onnx_after -> coreml_reference", subject.graph, coreml, after, tolerance
    )
    if found is None and not compared:  # a model another tool wrote names its tensors its own way
        return "no Core ML tensor carries an ONNX tensor's name, so no layer could be named"
    if found is None:
        return f"no single Core ML layer leaves the tolerance ({compared} intermediate tensors compared)"
    emitted = _emitted_as(subject, found.node)
    return (
        f"first diverging node {found.node!r} ({found.op}{' -> Core ML ' + emitted if emitted else ''}), tensor "
        f"{found.tensor!r} max rel err {found.max_rel:.3g} against onnxruntime"
    )


def _with_intermediates(model: Any) -> Any:
    """A shape-inferred copy of the source ``model`` with its intermediate tensors as outputs."""
    import onnx

    from bridgec.core import runtimes

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return runtimes.with_intermediates(ir.infer_shapes_best_effort(copy))


def _emitted_as(subject: Subject, node_name: str) -> str:
    """The Core ML layer kind a NeuralNetwork emitted for ``node_name`` (layers carry node names)."""
    if subject.built.format != "neuralnetwork":
        return ""
    network = getattr(subject.built.spec, subject.built.spec.WhichOneof("Type"))
    kinds = sorted(
        {layer.WhichOneof("layer") for layer in network.layers if layer.name.startswith(node_name)}
    )
    return "/".join(kinds)


__all__ = [
    "CHECKED",
    "FAILED",
    "NOT_CHECKED",
    "Check",
    "CheckFailed",
    "Compression",
    "Difference",
    "Divergence",
    "NotChecked",
    "OutputCheck",
    "Subject",
    "compare_outputs",
    "constant_note",
    "constant_outputs",
    "executor_gaps",
    "first_divergence",
    "not_checked",
    "run_check",
]
