"""One emitted Core ML model, whichever format: build it, describe it, run it, save it.

A NeuralNetwork model is one protobuf (``.mlmodel``); an ML Program is a package folder
(``.mlpackage``: the protobuf plus a weights blob file). Both are saved byte for byte the same
for the same input: protobuf maps serialised in key order, package identifiers derived from
the paths instead of random UUIDs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml import _coremltools
from bridgec.backends.coreml.metadata import Metadata
from bridgec.backends.coreml.targets import SUFFIXES, Target
from bridgec.core.errors import ConversionError

_SPEC_IN_PACKAGE = Path("Data/com.apple.CoreML/model.mlmodel")
_PACKAGE_NAMESPACE = uuid.UUID("6b1c2f0e-5a4d-4c3b-9e8f-b41d6ec0a7d1")  # fixed: identifiers stay stable


@dataclass
class BuiltModel:
    format: str  # "neuralnetwork" or "mlprogram"
    spec: Any  # Model_pb2.Model (for an ML Program, the program; weights live in mlmodel.weights_dir)
    mlmodel: Any = None  # coremltools MLModel of an ML Program (it owns the weights folder)
    precision: str = "fp32"

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.format]

    @property
    def custom_classes(self) -> dict[str, list[str]]:
        if self.format != "neuralnetwork":
            return {}
        from bridgec.backends.coreml import neuralnetwork

        return neuralnetwork.custom_classes(self.spec)

    def op_counts(self) -> Counter:
        """Core ML layers (NeuralNetwork) or MIL operations, ``const`` excluded (ML Program), by kind."""
        if self.format == "neuralnetwork":
            from bridgec.backends.coreml import neuralnetwork

            return neuralnetwork.layer_kinds(self.spec)
        from bridgec.backends.coreml.mlprogram import mil_op_kinds

        return mil_op_kinds(self.spec)

    def run_reference(
        self,
        feeds: Mapping[str, np.ndarray],
        intermediates: bool = False,
        state: MutableMapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Outputs of bridgec's numpy reference executor for this model; a stateful model reads and
        writes ``state`` (``executor.mlprogram.new_state``) as Core ML does an ``MLState``."""
        from bridgec.backends.coreml.executor import run

        model = self.spec if self.format == "neuralnetwork" else (self.spec, self.mlmodel.weights_dir)
        return run(model, feeds, intermediates=intermediates, state=state)

    def save(self, path: Path) -> None:
        """Write the model at ``path`` (a new file or folder: callers stage it and rename)."""
        path = Path(path)
        if self.format == "neuralnetwork":
            path.write_bytes(self.spec.SerializeToString(deterministic=True))
            return
        # MLModel.save copies the package coremltools built in a temporary folder (and its
        # ExecuTorch debug-handle step does not apply: bridgec's programs carry no such scope).
        # The weight file is linked rather than copied where the file system allows: writing a
        # vision transformer's 330 MB again, and removing the temporary's at exit, cost as much as
        # a tenth of its conversion.
        shutil.copytree(self.mlmodel.package_path, path, copy_function=_link_or_copy)
        (path / _SPEC_IN_PACKAGE).write_bytes(self.spec.SerializeToString(deterministic=True))
        _stable_manifest(path / "Manifest.json")


def _link_or_copy(source: str, destination: str) -> str:
    """A package file into a new package: the weights (written once, never rewritten) as another
    link to the same file where possible; the files ``save`` rewrites afterwards as copies."""
    if Path(source).parent.name == "weights":
        try:
            os.link(source, destination)
            return destination
        except OSError:  # another file system, or one without hard links
            pass
    return shutil.copy2(source, destination)


def _stable_manifest(manifest: Path) -> None:
    """coremltools names package items with random UUIDs; derive them from the item paths instead."""
    data = json.loads(manifest.read_text())
    renamed = {
        old: str(uuid.uuid5(_PACKAGE_NAMESPACE, entry["path"])).upper()
        for old, entry in data["itemInfoEntries"].items()
    }
    data["itemInfoEntries"] = {renamed[old]: entry for old, entry in data["itemInfoEntries"].items()}
    data["rootModelIdentifier"] = renamed.get(data["rootModelIdentifier"], data["rootModelIdentifier"])
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def fp16_weights(spec: Any) -> Any:
    """The NeuralNetwork ``spec`` with every float weight stored as float16 (half the file size)."""
    ct = _coremltools.load()
    from coremltools.models.neural_network import quantization_utils

    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per layer
        quantized = quantization_utils.quantize_weights(ct.models.MLModel(spec, skip_model_load=True), 16)
    return quantized.get_spec()


def build(
    graph: gs.Graph,
    target: Target,
    *,
    precision: str = "fp32",
    metadata: Metadata | None = None,
    image: Any = None,
    labels: list[str] | None = None,
    labels_output: str | None = None,
    image_outputs: tuple[Any, ...] = (),
    flexible: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BuiltModel:
    """Emit ``graph`` (legal for ``target``) in ``target.format``; ``progress`` hears of the long steps.
    ``labels`` make a classifier of output ``labels_output`` (``backends.coreml.classifier``);
    ``image`` and ``image_outputs`` make an input and outputs images (``backends.coreml.image``);
    ``flexible``: it will take other input shapes too (``backends.coreml.flexible``)."""
    if labels and image_outputs:  # an ML Program's classify op reorders the outputs images are matched to
        raise ConversionError(
            "--image-output with --labels: a classifier with image outputs is not supported"
        )
    if target.format == "mlprogram":
        from bridgec.backends.coreml.mlprogram import build_mlprogram

        mlmodel = build_mlprogram(
            graph,
            target,
            precision=precision,
            labels=labels,
            labels_output=labels_output,
            image=image,
            image_outputs=image_outputs,
            flexible=flexible,
            progress=progress,
        )
        built = BuiltModel("mlprogram", mlmodel.get_spec(), mlmodel, precision)
    else:
        from bridgec.backends.coreml import neuralnetwork

        spec = neuralnetwork.build_spec(
            graph,
            target,
            image=image,
            labels=labels,
            labels_output=labels_output,
            image_outputs=image_outputs,
        )
        if precision == "fp16":
            spec = fp16_weights(spec)
        built = BuiltModel("neuralnetwork", spec, None, precision)
    (metadata or Metadata()).apply(built.spec)
    return built
