"""Test helpers shared across folders (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.core.numerics import Difference, difference, tolerance_for


def run_graph(graph: gs.Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run an IR graph (bridgec ops included, through their ONNX function definitions) in onnxruntime."""
    from bridgec.core.runtimes import run_onnxruntime

    outputs = run_onnxruntime(graph, feeds)
    return [outputs[t.name] for t in graph.outputs]


def graph_from_text(text: str) -> gs.Graph:
    from bridgec.core import ir

    model = onnx.parser.parse_model(text)
    return ir.import_model(onnx.shape_inference.infer_shapes(model))


def op_types(graph: gs.Graph) -> list[str]:
    from bridgec.core import ir

    return sorted(ir.op_label(node) for node in graph.nodes)


def assert_io_kept(before: gs.Graph, after: gs.Graph) -> None:
    """A pass must keep graph input/output names, dtypes and shapes."""

    def signature(graph):
        return [
            (t.name, t.dtype, tuple(t.shape) if t.shape is not None else None)
            for t in list(graph.inputs) + list(graph.outputs)
        ]

    assert signature(before) == signature(after)


def assert_matches(
    got: Any, want: Any, precision: str = "fp32", tolerance: float | None = None, what: str = ""
) -> Difference:
    """Assert that ``got`` matches the reference ``want`` by the one metric the conversion check and
    ``bridgec verify`` use (``bridgec.core.numerics``: max |got - want| / max |want|, shapes equal, NaN
    and infinities matched in place), within the ``precision``'s tolerance. ``tolerance`` overrides it
    for a comparison that is meant to be tighter (0: bit-exact). Either side may be a torch tensor."""
    got, want = (np.asarray(v.detach().numpy() if hasattr(v, "detach") else v) for v in (got, want))
    limit = tolerance_for(precision) if tolerance is None else tolerance
    diff = difference(got, want)
    prefix = f"{what}: " if what else ""
    assert diff.within(limit), (
        f"{prefix}max rel err {diff.max_rel:.3g} > {limit:g} (max abs {diff.max_abs:.3g}, max |want| "
        f"{diff.scale:.3g}, NaN/inf not matched: {diff.mismatched_nonfinite}) {diff.note}".rstrip()
    )
    return diff


def run_pipeline(
    graph, pipeline: str, target: str | None = None, *, format: str = "neuralnetwork", options=None
):
    """``bridgec.driver.pipeline.run_pipeline`` of ``pipeline`` for ``target`` in ``format``, as a
    conversion's request asks for it (source ops, rewritten graph, pass context)."""
    from bridgec.backends.coreml.targets import Target
    from bridgec.driver import pipeline as pipeline_mod
    from bridgec.driver.request import ConversionRequest

    request = ConversionRequest.of(None, pipeline=pipeline, passes=options)
    return pipeline_mod.run_pipeline(graph, request, Target.parse(target, (), format))


def load_tool(relative: str):
    """The module of a script in the repository that is not a package (``tools/...py``), by its path."""
    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
