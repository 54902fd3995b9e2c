"""Shared by the ML Program emitter tests: build a graph from ONNX text, convert, run, compare."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram, mil_op_counts
from bridgec.backends.coreml.targets import Target
from tests.helpers import graph_from_text, run_graph

HEAD = '<ir_version: 8, opset_import: ["" : {opset}{extra}]> g ({inputs}) => ({outputs})'


def target(name: str = "iOS15") -> Target:
    return Target.parse(name, format="mlprogram")


def graph(
    body: str, inputs: str = "float[2,3,4,5] x", outputs: str = "float y", opset: int = 17, extra: str = ""
) -> gs.Graph:
    head = HEAD.format(opset=opset, extra=extra, inputs=inputs, outputs=outputs)
    return graph_from_text(head + " {\n" + body + "\n}")


def feeds_for(g: gs.Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in g.inputs}


def run_model(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return run_mlprogram(model, feeds)


def check(
    g: gs.Graph,
    mil_ops: tuple[str, ...] = (),
    *,
    feeds: dict[str, np.ndarray] | None = None,
    atol: float = 1e-4,
    fp16_atol: float = 2e-2,
    ios: str = "iOS15",
    fp16_ios: str = "iOS18",
) -> Any:
    """Convert ``g`` (fp32 for ``ios``, fp16 for ``fp16_ios``), assert the MIL ops ``mil_ops`` appear,
    and that both match onnxruntime (run by the reference executor). Returns the fp32 model."""
    feeds = feeds if feeds is not None else feeds_for(g)
    expected = run_graph(g, feeds)
    model = build_mlprogram(g.copy(), target(ios))
    counts = mil_op_counts(model)
    missing = [op for op in mil_ops if not counts[op]]
    assert not missing, f"MIL ops {missing} not emitted; got {dict(counts)}"
    spec = model.get_spec()
    assert [f.name for f in spec.description.input] == [t.name for t in g.inputs]
    assert [f.name for f in spec.description.output] == [t.name for t in g.outputs]
    # fp16 on the newest opset: iOS17 retyped many MIL ops' parameters, so each case covers both ends
    half = build_mlprogram(g.copy(), target(fp16_ios), precision="fp16")
    for built, tol in ((model, atol), (half, fp16_atol)):
        got = run_model(built, feeds)
        for tensor, want in zip(g.outputs, expected, strict=True):
            actual = np.asarray(got[tensor.name])
            assert actual.shape == want.shape, f"{tensor.name}: shape {actual.shape} != {want.shape}"
            if np.issubdtype(want.dtype, np.floating):
                np.testing.assert_allclose(actual, want, atol=tol, rtol=tol)
            else:
                np.testing.assert_array_equal(actual, want)
    return model


def freeze(g: gs.Graph, seed: int = 1, **values: np.ndarray | None) -> gs.Graph:
    """Turn the named graph inputs into initializers (weights): the given array, or random values
    of the input's shape when None."""
    rng = np.random.default_rng(seed)
    tensors = g.tensors()
    for name, value in values.items():
        var = tensors[name]
        if value is None:
            value = rng.standard_normal(tuple(var.shape)).astype(np.float32)
        const = gs.Constant(name, np.asarray(value))
        for node in list(var.outputs):
            for index, tensor in enumerate(node.inputs):
                if tensor is var:
                    node.inputs[index] = const
        g.inputs = [t for t in g.inputs if t is not var]
    return g
