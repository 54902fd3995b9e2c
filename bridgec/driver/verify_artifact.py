"""What ``bridgec verify ARTIFACT --against SOURCE`` reads of a model that already exists.

The artifact is read as it is, never converted again: its interface (input and output names, shapes,
dtypes; image inputs with their scale and bias; a classifier's labels) from the Core ML model's
description (``Model.proto``) or the ``.aimodel``'s ``main`` signature, the precision its numbers are
judged at, and a way to run it — bridgec's reference executor for ``.mlmodel`` / ``.mlpackage`` (Core
ML runs only on macOS), Apple's Core AI runtime for ``.aimodel`` with bridgec's Core AI executor where
that runtime cannot run it (the conversion's check does the same). It may have been written by bridgec
or by coremltools: nothing here reads bridgec's own metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bridgec.core.errors import UsageError

SUFFIXES = (".mlmodel", ".mlpackage", ".aimodel")
_NETWORKS = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")
_COREML_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "int32": np.int32}
EXECUTOR = "bridgec's reference executor"


def is_artifact(path: Path) -> bool:
    """Whether ``path`` names a written model (``bridgec verify`` then needs ``--against SOURCE``)."""
    return Path(path).suffix.lower() in SUFFIXES


@dataclass(frozen=True)
class Port:
    """One input or output of the artifact: its declared (default) shape and dtype; ``flexible``:
    the other shapes it takes ("" when fixed); ``image``: how Core ML turns an image input's pixels
    into the tensor the network sees (``backends.coreml.image.ImageInput``)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    flexible: str = ""
    image: Any = None
    feature: Any = None  # the Core ML FeatureDescription (shape checks), None for Core AI


@dataclass
class Artifact:
    path: Path
    format: str  # neuralnetwork | mlprogram | coreai
    precision: str  # the numbers' precision: fp16 when it computes or stores weights in float16
    inputs: list[Port]
    outputs: list[Port]  # tensor outputs; a classifier's top label and dictionary are not among them
    spec: Any = None  # Core ML Model_pb2.Model
    weights_dir: str | None = None  # an ML Program's weight blobs
    labels: tuple = ()  # a classifier's labels, in score order
    kernels: dict[str, list[str]] = field(
        default_factory=dict
    )  # Core AI metal4_kernel name -> its ops (float16)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def format_name(self) -> str:
        return {"neuralnetwork": "NeuralNetwork", "mlprogram": "ML Program", "coreai": "Core AI"}[self.format]


def open_artifact(path: Path) -> Artifact:
    """Read the artifact at ``path``; a missing, unreadable or corrupted one is one line (UsageError)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(
            f"{path}: no such file or folder; give the model to check (.mlmodel, .mlpackage or .aimodel)"
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".aimodel":
            return _open_coreai(path)
        return _open_coreml(path)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - protobuf, MLIR and file errors all mean one thing here
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UsageError(
            f"{path}: not a readable {suffix} model ({type(exc).__name__}: {first}); write it again"
        ) from None


# ---------------------------------------------------------------------------------- Core ML


def _open_coreml(path: Path) -> Artifact:
    from bridgec.backends.coreml import _coremltools
    from bridgec.backends.coreml.executor.model_io import read_mlpackage

    weights = None
    if path.is_dir():
        spec, weights = read_mlpackage(path)
    else:
        spec = _coremltools.load().proto.Model_pb2.Model()
        spec.ParseFromString(path.read_bytes())
    kind = spec.WhichOneof("Type")
    if kind not in (*_NETWORKS, "mlProgram") or not spec.description.input:
        raise UsageError(
            f"{path}: holds {'a ' + kind if kind else 'no model'}, not a neural network or ML program with "
            "inputs; bridgec verify checks those"
        )
    if getattr(spec.description, "state", None):
        names = ", ".join(s.name for s in spec.description.state)
        raise UsageError(
            f"{path.name} keeps state ({names}, an MLState) and bridgec verify --against runs single calls; "
            "convert the source again (bridgec SOURCE --target iOS18): its check runs calls in sequence"
        )
    fmt = "mlprogram" if kind == "mlProgram" else "neuralnetwork"
    description = spec.description
    special = {description.predictedFeatureName, description.predictedProbabilitiesName} - {""}
    scalers = {}
    if fmt == "neuralnetwork":
        scalers = {e.featureName: e.scaler for e in getattr(spec, kind).preprocessing if e.HasField("scaler")}
    from bridgec.backends.coreml.interface import describe

    described = {(f.role, f.name): f for f in describe(spec)}
    inputs = [
        _coreml_port(path, spec, f, described["input", f.name], scalers, fmt) for f in description.input
    ]
    outputs = [
        _coreml_port(path, spec, f, described["output", f.name], {}, fmt)
        for f in description.output
        if f.name not in special
    ]
    return Artifact(path, fmt, _coreml_precision(spec), inputs, outputs, spec, weights, _class_labels(spec))


def _coreml_port(
    path: Path, spec: Any, feature: Any, described: Any, scalers: Mapping[str, Any], fmt: str
) -> Port:
    if described.kind == "multiarray":
        dtype = np.dtype(_COREML_DTYPES.get(described.dtype, np.float32))
        return Port(feature.name, described.shape, dtype, described.flexibility, feature=feature)
    if described.kind == "image":
        gray = described.color_space.startswith("GRAYSCALE")
        shape = (1, 1 if gray else 3, described.height, described.width)
        image = _program_image(path, spec, described) if fmt == "mlprogram" else _image(described, scalers)
        return Port(feature.name, shape, np.dtype(np.float32), described.flexibility, image)
    raise UsageError(
        f"{path.name}: {feature.name!r} is a {described.kind}; bridgec verify --against compares tensors "
        "(multiarrays) and image inputs"
    )


def _image(described: Any, scalers: Mapping[str, Any]) -> Any:
    """The ``ImageInput`` a NeuralNetwork's preprocessing (NeuralNetworkImageScaler) applies: the
    executor reads a scale of 0 as 1, as Core ML does an unset one."""
    from bridgec.backends.coreml.image import ImageInput

    scaler = scalers.get(described.name)
    layout = "GRAY" if described.color_space.startswith("GRAYSCALE") else described.color_space
    if scaler is None:
        return ImageInput(described.name, 1.0, (0.0,), layout)
    bias = (scaler.grayBias,) if layout == "GRAY" else (scaler.redBias, scaler.greenBias, scaler.blueBias)
    return ImageInput(described.name, float(scaler.channelScale or 1.0), tuple(map(float, bias)), layout)


def _program_image(path: Path, spec: Any, described: Any) -> Any:
    """The ``ImageInput`` of an ML Program's image input: its scale and bias are the ``mul`` and
    ``add`` ops coremltools writes after the input (``backends.coreml.image``), the bias in the
    network's channel order."""
    from bridgec.backends.coreml.image import ImageInput

    function = spec.mlProgram.functions["main"]
    operations = list(function.block_specializations[function.opset].operations)
    constants = {op.outputs[0].name: op.attributes["val"] for op in operations if op.type == "const"}

    def step(kind: str, value: str) -> tuple[str, list[float]] | None:
        for op in operations:
            if op.type != kind or set(op.inputs) != {"x", "y"}:
                continue
            x, y = op.inputs["x"].arguments[0], op.inputs["y"].arguments[0]
            if x.WhichOneof("binding") == "name" and x.name == value:
                held = constants.get(y.name) if y.WhichOneof("binding") == "name" else y.value
                floats = list(held.immediateValue.tensor.floats.values) if held is not None else []
                if not floats:
                    raise UsageError(
                        f"{path.name}: the {kind} after image input {described.name!r} is not by constant float32 "
                        "values; bridgec verify --against reads an image's scale and bias from those"
                    )
                return op.outputs[0].name, floats
        return None

    layout = "GRAY" if described.color_space.startswith("GRAYSCALE") else described.color_space
    scaled = step("mul", described.name)
    biased = step("add", scaled[0] if scaled else described.name)
    bias = tuple(biased[1]) if biased else (0.0,)
    if layout == "BGR" and len(bias) == 3:
        bias = bias[::-1]  # ImageInput takes R, G, B whatever the layout
    return ImageInput(described.name, scaled[1][0] if scaled else 1.0, bias, layout)


def _coreml_precision(spec: Any) -> str:
    """fp16 when an ML Program computes a value in float16, or a NeuralNetwork stores a weight in it."""
    if spec.WhichOneof("Type") == "mlProgram":
        from bridgec.backends.coreml import _coremltools

        fp16 = _coremltools.load().proto.MIL_pb2.DataType.Value("FLOAT16")
        for function in spec.mlProgram.functions.values():
            for block in function.block_specializations.values():
                for op in block.operations:
                    if any(o.type.tensorType.dataType == fp16 for o in op.outputs):
                        return "fp16"
        return "fp32"
    network = getattr(spec, spec.WhichOneof("Type"))
    return "fp16" if any(_has_fp16(layer) for layer in network.layers) else "fp32"


def _has_fp16(message: Any) -> bool:
    for descriptor, value in message.ListFields():
        if descriptor.name == "float16Value" and value:
            return True
        if descriptor.message_type is None:
            continue
        # one message, a repeated field, or a map (a custom layer's parameters) of messages or scalars
        values = (
            [value] if hasattr(value, "ListFields") else value.values() if hasattr(value, "keys") else value
        )
        if any(hasattr(v, "ListFields") and _has_fp16(v) for v in values):
            return True
    return False


def _class_labels(spec: Any) -> tuple:
    from bridgec.backends.coreml.interface import labels_of

    return tuple(labels_of(spec) or ())


class CoreMLRun:
    """The artifact as ``check.run_check`` runs a built model (``BuiltModel``'s ``format``, ``spec``
    and ``run_reference``), its outputs under the source's names (``renamed``)."""

    def __init__(self, artifact: Artifact, renamed: Mapping[str, str]) -> None:
        self.format, self.spec, self._artifact, self._renamed = (
            artifact.format,
            artifact.spec,
            artifact,
            renamed,
        )

    def run_reference(self, feeds: Mapping[str, np.ndarray], intermediates: bool = False) -> dict:
        from bridgec.backends.coreml.executor import run

        model = self.spec if self.format == "neuralnetwork" else (self.spec, self._artifact.weights_dir)
        got = run(model, feeds, intermediates=intermediates)
        return got if intermediates else {self._renamed.get(k, k): v for k, v in got.items()}


# ---------------------------------------------------------------------------------- Core AI


def _open_coreai(path: Path) -> Artifact:
    from bridgec.backends.coreai.executor import CUSTOM_KERNEL, load

    program = load(path, constants=False)
    kernels: dict[str, list[str]] = {}
    for step in program.steps:
        if step.name == CUSTOM_KERNEL:
            kernels.setdefault(str(step.attributes.get("kernel_name", "?")), []).append(str(step.location))
    fp16 = bool(kernels) or any(
        np.dtype(dtype) == np.float16 for step in program.steps for _, dtype in step.result_types
    )
    inputs = [
        Port(name, tuple(shape), np.dtype(dtype), _dynamic(shape)) for name, shape, dtype in program.inputs
    ]
    outputs = [Port(name, tuple(shape), np.dtype(dtype)) for name, shape, dtype in program.outputs]
    return Artifact(path, "coreai", "fp16" if fp16 else "fp32", inputs, outputs, kernels=kernels)


def _dynamic(shape: tuple[int, ...]) -> str:
    return "x".join("?" if d < 0 else str(d) for d in shape) if any(d < 0 for d in shape) else ""


def run_coreai(artifact: Artifact, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """(the outputs of the ``.aimodel`` on ``feeds``, the runtime that computed them): Apple's runtime in
    a child process, or bridgec's Core AI executor where that runtime cannot run the model here."""
    from bridgec.backends.coreai import executor
    from bridgec.backends.coreai import kernels as _kernels  # noqa: F401 - registers metal4_kernel in the executor
    from bridgec.backends.coreai.run import run_model
    from bridgec.driver.convert_coreai import EXECUTOR as COREAI_EXECUTOR
    from bridgec.driver.convert_coreai import REFERENCE_RUNTIME

    fallback = executor.fallback_reason(artifact.path)
    if fallback is None:
        return run_model(artifact.path, feeds), REFERENCE_RUNTIME
    artifact.notes.append(f"checked by {COREAI_EXECUTOR} only (Apple's runtime was not run: {fallback})")
    return executor.run(artifact.path, feeds), COREAI_EXECUTOR


__all__ = ["SUFFIXES", "Artifact", "CoreMLRun", "Port", "is_artifact", "open_artifact", "run_coreai"]
