"""Property-based: random valid graphs through every named pipeline keep their numbers, and a second
run changes nothing; the emitted Core ML model computes what onnxruntime computes.

``BRIDGEC_PROPERTY_EXAMPLES`` raises the example count (tools/soak_passes.py does).
"""

from __future__ import annotations

import math
import os

import numpy as np
import onnx_graphsurgeon as gs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgec import passes
from bridgec.backends.coreml import build_spec, capabilities_for
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.core import ir
from bridgec.core.errors import ConversionError
from bridgec.core.runtimes import run_onnxruntime

EXAMPLES = int(os.environ.get("BRIDGEC_PROPERTY_EXAMPLES", "150"))
SHAPE = (2, 3, 4, 4)
UNARY = (
    "Relu",
    "Sigmoid",
    "Tanh",
    "Identity",
    "LeakyRelu",
    "Softmax",
    "MaxPool",
    "Conv",
    "BatchNormalization",
)
BINARY = ("Add", "Mul", "Sub", "Max", "Min")
CLIPS = ("Clip", "ClipAttr", "HardTanh")

bound = st.one_of(st.just(None), st.sampled_from([-6.0, -2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 6.0]))


@st.composite
def graphs(draw):
    """A random DAG over same-shaped float tensors, built straight into the IR."""
    x = gs.Variable("x", dtype=np.float32, shape=list(SHAPE))
    tensors = [x]
    nodes = []
    for i in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(UNARY + BINARY + CLIPS + ("ConstAdd",)))
        a = draw(st.sampled_from(tensors))
        out = gs.Variable(f"t{i}", dtype=np.float32, shape=list(SHAPE))
        name = f"n{i}"
        if kind in BINARY:
            nodes.append(gs.Node(kind, name, inputs=[a, draw(st.sampled_from(tensors))], outputs=[out]))
        elif kind == "ConstAdd":  # a Constant node feeding an Add: constant folding territory
            c = gs.Variable(f"c{i}", dtype=np.float32)
            nodes.append(
                gs.Node(
                    "Constant",
                    f"{name}_c",
                    attrs={"value_float": draw(st.sampled_from([0.5, -1.0]))},
                    outputs=[c],
                )
            )
            nodes.append(gs.Node("Add", name, inputs=[a, c], outputs=[out]))
        elif kind in CLIPS:
            lo, hi = draw(bound), draw(bound)
            if lo is not None and hi is not None and lo > hi:
                lo, hi = hi, lo
            if kind == "HardTanh":
                attrs = {
                    "min_value": -math.inf if lo is None else lo,
                    "max_value": math.inf if hi is None else hi,
                }
                nodes.append(
                    gs.Node(
                        "HardTanh", name, attrs=attrs, inputs=[a], outputs=[out], domain=ir.BRIDGEC_DOMAIN
                    )
                )
            else:
                lo_t = (
                    gs.Constant(f"lo{i}", np.array(lo, np.float32)) if lo is not None else gs.Variable.empty()
                )
                hi_t = (
                    gs.Constant(f"hi{i}", np.array(hi, np.float32)) if hi is not None else gs.Variable.empty()
                )
                nodes.append(gs.Node("Clip", name, inputs=[a, lo_t, hi_t], outputs=[out]))
        elif kind == "LeakyRelu":
            nodes.append(gs.Node(kind, name, attrs={"alpha": 0.1}, inputs=[a], outputs=[out]))
        elif kind == "Softmax":
            nodes.append(
                gs.Node(kind, name, attrs={"axis": draw(st.sampled_from([1, -1]))}, inputs=[a], outputs=[out])
            )
        elif kind == "MaxPool":
            attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]}
            nodes.append(gs.Node(kind, name, attrs=attrs, inputs=[a], outputs=[out]))
        elif kind == "Conv":
            w = gs.Constant(
                f"w{i}", np.random.default_rng(i).standard_normal((3, 3, 1, 1)).astype(np.float32)
            )
            nodes.append(gs.Node(kind, name, attrs={"kernel_shape": [1, 1]}, inputs=[a, w], outputs=[out]))
        elif kind == "BatchNormalization":
            params = [
                gs.Constant(f"bn{i}_{k}", np.full(3, v, np.float32))
                for k, v in enumerate((1.5, 0.1, 0.2, 2.0))
            ]
            nodes.append(gs.Node(kind, name, inputs=[a, *params], outputs=[out]))
        else:
            nodes.append(gs.Node(kind, name, inputs=[a], outputs=[out]))
        tensors.append(out)
    outputs = [tensors[-1]]
    extra = draw(st.sampled_from(tensors[1:]))
    if extra is not outputs[0]:
        outputs.append(extra)
    graph = gs.Graph(nodes=nodes, inputs=[x], outputs=outputs, opset=17)
    graph.import_domains = None
    return graph


FEEDS = {"x": (np.random.default_rng(0).standard_normal(SHAPE) * 4).astype(np.float32)}


def structure(graph: gs.Graph) -> list:
    return [
        (ir.op_label(n), sorted(n.attrs), [t.name for t in n.inputs], [t.name for t in n.outputs])
        for n in graph.nodes
    ]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_pipelines_keep_numbers_and_are_idempotent(graph):
    expected = run_onnxruntime(graph, FEEDS)
    for name in passes.PIPELINES:
        ctx = passes.PassContext(
            capabilities=capabilities_for("iOS14"), pipeline=name, instruments=[passes.GraphCheck()]
        )
        try:
            out = passes.pipeline(name).run(graph.copy(), context=ctx)
        except ConversionError as exc:
            assert name == "none" and "HardTanh" in str(exc), str(exc)  # only -O none may refuse these graphs
            continue
        got = run_onnxruntime(out, FEEDS)
        for key, want in expected.items():
            np.testing.assert_allclose(
                got[key], want, rtol=1e-5, atol=1e-6, err_msg=f"-O {name}, output {key}"
            )
        again_ctx = passes.PassContext(capabilities=capabilities_for("iOS14"), pipeline=name)
        again = passes.pipeline(name).run(out.copy(), context=again_ctx)
        assert not any(modified for _, _, modified in again_ctx.timings), (name, again_ctx.timings)
        assert structure(again) == structure(out)

        spec = build_spec(out.copy(), "iOS14")
        coreml = run_coreml(spec, FEEDS)
        for key, want in expected.items():
            np.testing.assert_allclose(coreml[key], want, rtol=1e-4, atol=1e-5, err_msg=f"Core ML, -O {name}")
