"""Test helpers shared across folders (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs


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
