"""The runtimes a conversion is checked with: PyTorch, onnxruntime, and Core ML (reference or real).

Each takes the same ``feeds`` (input name -> float32 array) and returns output name -> array.
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.errors import ConversionError, out_of_memory


def run_onnxruntime(
    graph: gs.Graph, feeds: dict[str, np.ndarray], *, intermediates: bool = False
) -> dict[str, np.ndarray]:
    """Run an IR graph in onnxruntime (bridgec ops through their ONNX function definitions).

    With ``intermediates`` every typed tensor a node produces is an output too, as Polygraphy
    marks them, so a divergence can be traced to the first node that causes it.
    """
    model = ir.export_model(graph)
    return run_model(with_intermediates(model) if intermediates else model, feeds)


def with_intermediates(model: Any) -> Any:
    """``model`` (shape-inferred) with every typed tensor a node produces made a graph output too."""
    present = {o.name for o in model.graph.output}
    typed = {v.name: v for v in model.graph.value_info if v.type.tensor_type.elem_type}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in present and name in typed:
                model.graph.output.append(typed[name])
                present.add(name)
    return model


def run_model(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an ONNX ``ModelProto`` in onnxruntime (CPU), every graph output by name."""
    import onnxruntime as ort

    # FATAL only: onnxruntime prints a failing kernel's error to stderr itself, in colour, before
    # raising it; bridgec reports it in its own one line.
    options = ort.SessionOptions()
    options.log_severity_level = 4
    run_options = ort.RunOptions()
    run_options.log_severity_level = 4
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds, run_options), strict=True))
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are long C++ messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # onnxruntime names a nameless node Name:'', which reads like a sentence cut short
        first = first.replace(" node. Name:'' ", " node (unnamed). ")
        if out_of_memory(exc):
            raise MemoryError(first) from None  # this machine's limit, not the model's fault
        raise ConversionError(f"onnxruntime could not run the graph: {first}") from None


def run_torchscript(
    path: Path, feeds: dict[str, np.ndarray], input_names: list[str], output_names: list[str]
) -> dict[str, np.ndarray]:
    import torch

    module = torch.jit.load(str(path), map_location="cpu").eval()
    with torch.no_grad():
        result = module(*(torch.from_numpy(feeds[name]) for name in input_names))
    tensors = list(result) if isinstance(result, (tuple, list)) else [result]
    return {name: t.numpy() for name, t in zip(output_names, tensors, strict=True)}


def run_coreml_reference(
    spec: Any, feeds: dict[str, np.ndarray], *, intermediates: bool = False
) -> dict[str, np.ndarray]:
    from bridgec.backends.coreml.executor import run

    return run(spec, feeds, intermediates=intermediates)


def coreml_runtime_unavailable(spec: Any) -> str | None:
    """Why the real Core ML runtime cannot run ``spec`` here, or None if it can."""
    if platform.system() != "Darwin":
        return f"not available here ({platform.system()}: Core ML runs only on macOS)"
    network = getattr(spec, spec.WhichOneof("Type"))
    if any(layer.WhichOneof("layer") == "custom" for layer in getattr(network, "layers", ())):
        return "skipped: coremltools cannot predict with custom layers"
    try:
        from coremltools import libcoremlpython  # noqa: F401
    except ImportError:
        return "not available: this coremltools build has no Core ML bindings"
    return None


def run_coreml_native(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Core ML itself, through coremltools (macOS only; see ``coreml_runtime_unavailable``).
    ``model``: a NeuralNetwork spec or a ``BuiltModel`` of either format."""
    import coremltools as ct

    from bridgec.backends.coreml.model import BuiltModel

    if not isinstance(model, BuiltModel):
        model = BuiltModel("neuralnetwork", model)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{model.suffix}"
        model.save(path)
        loaded = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)
        return {k: np.asarray(v) for k, v in loaded.predict(feeds).items()}


__all__ = [
    "coreml_runtime_unavailable",
    "run_coreml_native",
    "run_coreml_reference",
    "run_model",
    "with_intermediates",
    "run_onnxruntime",
    "run_torchscript",
]
