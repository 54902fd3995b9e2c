"""One ONNX op, two ways: onnxruntime on the ONNX graph, and the reference executor on the emitted
Core ML NeuralNetwork. Shared by the test_<family>_emitters.py files.

The graph is emitted after ``-O none`` (the legalisations every pipeline runs): an emitter writes
one layer for one legal node, and a node it cannot take as it is reaches it through a named rule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.neuralnetwork import build_spec
from tests.helpers import assert_matches, graph_from_text, run_graph

Feed = Callable[[np.ndarray], np.ndarray]


def model_text(inputs: str, outputs: str, body: str, opset: int = 18) -> str:
    return f'<ir_version: 8, opset_import: ["" : {opset}]> g ({inputs}) => ({outputs}) {{\n {body}\n}}'


def feeds_for(graph, feed: Feed | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {}
    for tensor in graph.inputs:
        x = (rng.standard_normal(tuple(tensor.shape)) * 2).astype(np.float32)
        values[tensor.name] = (feed(x) if feed else x).astype(np.float32)
    return values


def assert_matches_onnxruntime(
    text: str, target: str = "iOS14", feed: Feed | None = None, tolerance: float = 1e-7
) -> dict[str, int]:
    """Emit ``text`` for ``target``, run both, compare every output; returns the layer kinds used.
    The default tolerance is about one float32 rounding (2^-23 ~ 1.2e-7) of the output's scale: a layer
    computes the op's float32 arithmetic as onnxruntime does, only in another order."""
    graph = graph_from_text(text)
    caps = capabilities_for(target)
    values = feeds_for(graph, feed)
    want = run_graph(graph, values)
    legal = passes.pipeline("none").run(graph.copy(), target=caps)  # raises, listing what is not legal
    spec = build_spec(legal, target)
    got = run_coreml(spec, values)
    for tensor, expected in zip(graph.outputs, want, strict=True):
        expected = np.asarray(expected)
        actual = got[tensor.name]
        assert actual.shape == (expected.shape or (1,)), (tensor.name, actual.shape, expected.shape)
        assert_matches(actual, expected.astype(np.float32), tolerance=tolerance, what=tensor.name)
    return {layer.WhichOneof("layer"): 1 for layer in spec.neuralNetwork.layers}


def unsupported_reason(text: str, target: str = "iOS14") -> str | None:
    graph = graph_from_text(text)
    caps = capabilities_for(target)
    reasons = [caps.unsupported_reason(n) for n in graph.nodes if n.op != "Constant"]
    return next((r for r in reasons if r), None)
