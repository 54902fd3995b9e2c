"""Shared by the ML Program emitter tests: build a graph from ONNX text, convert, run, compare.

``check`` emits the graph after ``-O none`` (the legalisations every pipeline runs): an emitter
writes one MIL op for one legal node, and a node it cannot take as it is reaches it through a
named rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram, mil_op_counts
from bridgec.backends.coreml.targets import Target
from tests.helpers import assert_matches, graph_from_text, run_graph

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
    tolerance: float = 1e-6,
    fp16_tolerance: float = 1e-3,
    ios: str = "iOS15",
    fp16_ios: str = "iOS18",
) -> Any:
    """Convert ``g`` (fp32 for ``ios``, fp16 for ``fp16_ios``), assert the MIL ops ``mil_ops`` appear,
    and that both match onnxruntime (run by the reference executor). Returns the fp32 model.

    Tolerances are relative to the output's scale (``tests.helpers.assert_matches``): fp32 a few float32
    roundings (2^-23 ~ 1.2e-7 each), fp16 about two float16 roundings (2^-11 ~ 4.9e-4 each) — far
    tighter than the conversion check's per-precision defaults, which cover whole networks."""
    feeds = feeds if feeds is not None else feeds_for(g)
    expected = run_graph(g, feeds)
    g = legalized(g, ios)
    model = build_mlprogram(g.copy(), target(ios))
    counts = mil_op_counts(model)
    missing = [op for op in mil_ops if not counts[op]]
    assert not missing, f"MIL ops {missing} not emitted; got {dict(counts)}"
    spec = model.get_spec()
    assert [f.name for f in spec.description.input] == [t.name for t in g.inputs]
    assert [f.name for f in spec.description.output] == [t.name for t in g.outputs]
    # fp16 on the newest opset: iOS17 retyped many MIL ops' parameters, so each case covers both ends
    half = build_mlprogram(g.copy(), target(fp16_ios), precision="fp16")
    for built, tol in ((model, tolerance), (half, fp16_tolerance)):
        got = run_model(built, feeds)
        for tensor, want in zip(g.outputs, expected, strict=True):
            actual = np.asarray(got[tensor.name])
            assert actual.shape == want.shape, f"{tensor.name}: shape {actual.shape} != {want.shape}"
            # integer and boolean outputs are exact in both precisions
            exact = not np.issubdtype(want.dtype, np.floating)
            assert_matches(actual, want, tolerance=0 if exact else tol, what=tensor.name)
    return model


def legalized(g: gs.Graph, ios: str = "iOS15") -> gs.Graph:
    """``g`` after ``-O none`` for an ML Program on ``ios``; raises, listing them, if a node stays illegal."""
    return passes.pipeline("none").run(g.copy(), target=capabilities_for(target(ios)))


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
