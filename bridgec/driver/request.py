"""One conversion, asked for once: ``ConversionRequest`` holds everything the command line or a
Python caller decides (what to read, the pipeline and its pass options, the target and format, the
numbers check, what to write), and ``validate`` refuses a request that cannot succeed before the
slow part starts. Every stage of ``bridgec.driver.convert`` reads the request; none takes options
of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bridgec import frontends
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.classifier import checked_labels
from bridgec.backends.coreml.metadata import Metadata
from bridgec.backends.coreml.targets import FORMATS, PRECISIONS, SUFFIXES
from bridgec.core.errors import UsageError
from bridgec.driver import files
from bridgec.driver.pipeline import RunOptions, _custom_layers_asked
from bridgec.driver.report import format_for
from bridgec.passes import DEFAULT_PIPELINE, PIPELINES

if TYPE_CHECKING:
    from bridgec.backends.coreml.image import ImageInput, ImageOutput
    from bridgec.driver.convert import Conversion


@dataclass(frozen=True)
class CheckOptions:
    """The numbers check (``bridgec.driver.check``): the emitted model against the source model, on
    a seeded random input or on ``inputs`` (input name, or None for a one-input model -> array or
    ``.npy`` path). ``tolerance`` overrides the precision's default; ``strict`` fails a model that
    cannot be checked instead of writing it unchecked."""

    enabled: bool = True
    inputs: Mapping[str | None, np.ndarray | str | os.PathLike] | None = None
    strict: bool = False
    tolerance: float | None = None


@dataclass(frozen=True)
class Outputs:
    """What the write stage writes, all at once or not at all. ``model``: the model path (None:
    beside the source model, ``.mlpackage`` for an ML Program, ``.mlmodel`` for a NeuralNetwork); the
    kernels folder of its custom layers goes beside it (``files.kernels_dir_for``). ``report`` in
    ``report_format`` (default: from its suffix) and ``report_json``: the op report. ``extra``: more
    files, path -> bytes of the result. ``protect``: what else the caller reads or writes, which no
    output may touch. ``write=False`` keeps the model in memory."""

    model: Path | None = None
    report: Path | None = None
    report_format: str | None = None
    report_json: Path | None = None
    extra: Mapping[Path, Callable[[Conversion], bytes]] | None = None
    protect: tuple[files.Claim, ...] = ()
    write: bool = True


# convert()'s keywords that are fields of the nested options (keyword -> field)
_CHECK_KEYWORDS = {"check": "enabled", "check_inputs": "inputs", "strict": "strict", "tolerance": "tolerance"}
_OUTPUT_KEYWORDS = {
    "output": "model",
    "write": "write",
    "extra_outputs": "extra",
    "protect": "protect",
    "report": "report",
    "report_format": "report_format",
    "report_json": "report_json",
}


@dataclass(frozen=True)
class ConversionRequest:
    """A conversion of ``model`` (TorchScript, torch.export, torch.save or ONNX file): its
    ``inputs`` (name -> dims, or a ``TensorSpec`` of dims and dtype; ``flexible`` for Core ML's
    flexible shapes), the ``pipeline``
    run with ``passes`` for ``target`` minus ``avoid_ops``, the Core ML ``format`` and ``precision``,
    what the app sees (``metadata``, an ``image`` input and ``image_outputs``, class ``labels`` of output
    ``labels_output``), how PyTorch files are
    read (``frontend``), the numbers ``check`` and the ``outputs``. ``progress`` gets one line per
    stage. ``model`` is None for a graph already in memory (``analysis.analyze_graph``,
    ``pipeline.lower``): only the load stage reads it. It is a model object rather than a file
    (``frontends.InMemoryModel``) when ``bridgec.convert`` was handed one."""

    model: Path | frontends.InMemoryModel | None
    inputs: dict | None = None
    pipeline: str = DEFAULT_PIPELINE
    passes: RunOptions = field(default_factory=RunOptions)
    target: str | None = None
    avoid_ops: tuple[str, ...] = ()
    format: str = "auto"
    precision: str = "fp32"
    metadata: Metadata | None = None
    image: ImageInput | None = None
    image_outputs: tuple[ImageOutput, ...] = ()
    labels: list[str] | None = None
    labels_output: str | None = None
    flexible: dict | None = None
    compress: str | None = None
    frontend: frontends.LoadOptions | None = None
    check: CheckOptions = field(default_factory=CheckOptions)
    outputs: Outputs = field(default_factory=Outputs)
    progress: Callable[[str], None] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, model: str | os.PathLike | frontends.InMemoryModel | None, **keywords) -> ConversionRequest:
        """The request ``convert(model, **keywords)`` makes: the fields, plus the check's and the
        outputs' fields by their keyword names (``check=``, ``check_inputs=``, ``strict=``,
        ``tolerance=``; ``output=``, ``write=``, ``extra_outputs=``, ``protect=``, ``report=``,
        ``report_format=``, ``report_json=``) and ``options=`` for ``passes``."""
        check = {name: keywords.pop(key) for key, name in _CHECK_KEYWORDS.items() if key in keywords}
        outputs = {name: keywords.pop(key) for key, name in _OUTPUT_KEYWORDS.items() if key in keywords}
        for name in ("model", "report", "report_json"):
            if name in outputs:
                outputs[name] = Path(outputs[name]) if outputs[name] else None
        if "protect" in outputs:
            outputs["protect"] = tuple(outputs["protect"])
        if "options" in keywords:
            keywords["passes"] = keywords.pop("options")
        if keywords.get("passes") is None:
            keywords.pop("passes", None)
        if model is not None and not isinstance(model, frontends.InMemoryModel):
            model = Path(model)
        return cls(model, check=CheckOptions(**check), outputs=Outputs(**outputs), **keywords)

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def neuralnetwork_only(self) -> str | None:
        """Why this conversion must be a NeuralNetwork whatever the graph holds, or None."""
        output = self.outputs.model if self.outputs.write else None
        if output is not None and output.suffix == ".mlmodel":
            return f"-o {output.name} is a .mlmodel file (NeuralNetwork); name a .mlpackage for an ML Program"
        if any(shape.unbounded for shape in (self.flexible or {}).values()):
            # coremltools refuses an ML Program input of upperBound -1 (ct.convert: "For mlprogram,
            # inputs with infinite upper_bound is not allowed"); a NeuralNetwork takes it
            return "an --input range with no upper bound (lo..) is for NeuralNetwork models only (an ML Program input needs one)"
        return None

    def destination(self, format: str) -> Path:
        """Where the model goes once its format is known."""
        return self.outputs.model or default_output(self.model, format)

    def claims(self, output: Path | None, format: str, *, default: bool = False) -> list[files.Claim]:
        """What this conversion reads and writes, for ``files.check_claims``. ``format``: the model's
        format, or "auto" while it is not known yet (then an ``-o`` suffix tells)."""
        claims = []
        if isinstance(self.model, Path):  # an object in memory is no file an output could replace
            claims.append(files.Claim(f"the input model {self.model}", self.model, "input"))
        for value in (self.check.inputs or {}).values():
            if isinstance(value, (str, os.PathLike)):
                claims.append(files.Claim(f"--check-input {value}", Path(value), "input"))
        if output is not None:
            package = format == "mlprogram" or (format == "auto" and output.suffix == ".mlpackage")
            label = f"the default output {output}" if default else f"-o {output}"
            claims.append(files.Claim(label, output, "folder" if package else "file"))
            if not package:
                kernels = files.kernels_dir_for(files.through_link(output))
                claims.append(files.Claim(f"the kernels folder {kernels}", kernels, "folder"))
        protect = self.outputs.protect
        labelled = {Path(c.path) for c in protect}
        claims += [
            files.Claim(str(path), Path(path))
            for path in self.outputs.extra or {}
            if Path(path) not in labelled
        ]
        for flag, path in (
            ("--report-json", self.outputs.report_json),
            ("--report-out", self.outputs.report),
        ):
            if path is not None:
                claims.append(files.Claim(f"{flag} {path}", Path(path)))
        return [*claims, *protect]


def default_output(model: Path, format: str = "neuralnetwork") -> Path:
    return model.with_suffix(SUFFIXES[format])


def validate(request: ConversionRequest) -> None:
    """Refuse (UsageError) what cannot succeed, before the slow part. The default output's name is
    checked by the write stage, once the format is known."""
    if request.model is None:  # a request for a graph in memory (analysis) cannot be converted
        raise UsageError("a conversion needs a model file: give convert() the path of a .pt, .pt2 or .onnx")
    check, outputs = request.check, request.outputs
    if outputs.report is not None:
        format_for(outputs.report, outputs.report_format)
    if check.strict and not check.enabled:
        raise UsageError("--strict asks for a checked model and --no-check for none: give one of them")
    if check.tolerance is not None and not (check.tolerance > 0):
        raise UsageError(f"--tolerance {check.tolerance}: give a positive number such as 1e-4")
    output, format = outputs.model, request.format
    if output is not None and outputs.write:
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
    if outputs.write:
        files.check_claims(request.claims(output, format))
    if request.format not in (*FORMATS, "coreai"):  # the command line's choices; a Python caller's value
        raise UsageError(
            f"unknown --format {request.format!r}; choose one of: {', '.join((*FORMATS, 'coreai'))}"
        )
    if request.pipeline not in PIPELINES:
        raise UsageError(f"unknown pipeline -O {request.pipeline!r}; choose one of: {', '.join(PIPELINES)}")
    if request.precision not in PRECISIONS:
        raise UsageError(f"unknown --precision {request.precision!r}; choose one of: {', '.join(PRECISIONS)}")
    _custom_layers_asked(request.pipeline, format, request.passes)
    if request.labels is not None:  # refused before loading; the count needs the model (convert.emit)
        checked_labels(request.labels)
    elif request.labels_output is not None:
        raise UsageError("--labels-output names the output --labels describes: add --labels FILE")
    caps = capabilities_for(
        request.target, request.avoid_ops, "mlprogram" if format == "mlprogram" else "neuralnetwork"
    )
    if request.compress is not None:  # "auto": the format is known after the passes (convert.emit)
        compression_refusal(request, format, caps.target.ios)


def compression_refusal(request: ConversionRequest, format: str, ios: int) -> None:
    """Refuse (UsageError) ``request.compress`` for a model of ``format`` at iOS ``ios``."""
    from bridgec.backends.coreml.compress import MODES

    mode = MODES.get(request.compress)
    if mode is None:
        raise UsageError(f"unknown --compress {request.compress!r}; choose one of: {', '.join(MODES)}")
    if format == "neuralnetwork" and request.precision == "fp16":
        # a NeuralNetwork's fp16 is only how its weights are stored, and --compress stores them otherwise
        raise UsageError(
            "--compress with --precision fp16 in a NeuralNetwork: fp16 only stores its weights as float16, "
            "which --compress replaces; drop --precision fp16"
        )
    refusal = mode.refusal(format, ios)
    if refusal:
        raise UsageError(refusal)
