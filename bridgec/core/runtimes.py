"""onnxruntime: how bridgec runs an ONNX graph (the source model, the graph after each pass) to
check what it computes.

Each takes ``feeds`` (input name -> float32 array) and returns output name -> array. The Core ML
runtimes belong to the backend (``BuiltModel.run_reference``, ``backends.coreml.native``), PyTorch
to the frontends (``frontends.run_pytorch``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.errors import ConversionError, out_of_memory


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


__all__ = ["run_model", "run_onnxruntime", "with_intermediates"]
