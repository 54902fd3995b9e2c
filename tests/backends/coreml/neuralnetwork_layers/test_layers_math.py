"""Elementwise math emitters (backends/coreml/neuralnetwork_layers/math.py) against onnxruntime, at iOS13 and iOS14."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import assert_matches_onnxruntime, model_text
from tests.helpers import assert_matches

XY = "float[2,3,4,5] x"
OUT = "float[2,3,4,5] y"


def positive(x):
    return np.abs(x) + 0.05


def unit(x):
    return np.tanh(x) * 0.9


# name: (body, feed transform, expected layer kind)
CASES = {
    "sqrt": ("y = Sqrt (x)", positive, "unary"),
    "exp": ("y = Exp (x)", None, "unary"),
    "log": ("y = Log (x)", positive, "unary"),
    "abs": ("y = Abs (x)", None, "unary"),
    "neg": ("y = Neg (x)", None, "activation"),
    "reciprocal": ("y = Reciprocal (x)", positive, "divideBroadcastable"),
    "pow_tensor": (
        "e = Constant <value = float[5] {2.0, 3.0, 0.5, -1.0, 1.5}> ()\n y = Pow (x, e)",
        positive,
        "powBroadcastable",
    ),
    "pow_int_exponent": ("e = Constant <value = int64 {3}> ()\n y = Pow (x, e)", None, "powBroadcastable"),
    "floor": ("y = Floor (x)", None, "floor"),
    "ceil": ("y = Ceil (x)", None, "ceil"),
    "sign": ("y = Sign (x)", lambda x: np.round(x), "sign"),
    "softsign": ("y = Softsign (x)", None, "activation"),
    "prelu_channel": (
        "s = Constant <value = float[3,1,1] {0.1, -0.2, 0.3}> ()\n y = PRelu (x, s)",
        None,
        "activation",
    ),
    "prelu_scalar": ("s = Constant <value = float[1] {0.25}> ()\n y = PRelu (x, s)", None, "activation"),
    "prelu_last_axis": (
        "s = Constant <value = float[5] {0.1, 0.2, 0.3, 0.4, 0.5}> ()\n y = PRelu (x, s)",
        None,
        "multiplyBroadcastable",
    ),
    # the trigonometric and hyperbolic layers (Sin ... AtanhLayerParams), fed inside each domain
    "sin": ("y = Sin (x)", None, "sin"),
    "cos": ("y = Cos (x)", None, "cos"),
    "tan": ("y = Tan (x)", unit, "tan"),
    "asin": ("y = Asin (x)", unit, "asin"),
    "acos": ("y = Acos (x)", unit, "acos"),
    "atan": ("y = Atan (x)", None, "atan"),
    "sinh": ("y = Sinh (x)", None, "sinh"),
    "cosh": ("y = Cosh (x)", None, "cosh"),
    "asinh": ("y = Asinh (x)", None, "asinh"),
    "acosh": ("y = Acosh (x)", lambda x: np.abs(x) + 1, "acosh"),
    "atanh": ("y = Atanh (x)", unit, "atanh"),
}


@pytest.mark.parametrize("target", ["iOS13", "iOS14"])
@pytest.mark.parametrize("case", CASES)
def test_emitted_math_matches_onnxruntime(case, target):
    body, feed, kind = CASES[case]
    # two float32 libms (onnxruntime's, numpy's) may each be an ulp off the true arcsine
    extra = {"tolerance": 2.5e-7} if case == "asin" else {}
    kinds = assert_matches_onnxruntime(model_text(XY, OUT, body), target, feed, **extra)
    assert kind in kinds


def test_erf_is_native_from_ios13_and_a_gelu_decomposition_stays_native():
    # ONNX Erf becomes the kept bridgec Erf in the frontend: through convert it is the erf layer
    from bridgec import passes
    from bridgec.backends.coreml import capabilities_for
    from bridgec.backends.coreml.executor import run as run_coreml
    from bridgec.backends.coreml.neuralnetwork import build_spec
    from bridgec.core import ir
    from bridgec.frontends.normalize import normalize
    from tests.helpers import graph_from_text, run_graph

    text = model_text(
        XY,
        OUT,
        "r = Constant <value = float {0.70710678}> ()\n h = Constant <value = float {0.5}> ()\n"
        " o = Constant <value = float {1.0}> ()\n s = Mul (x, r)\n e = Erf (s)\n p = Add (e, o)\n"
        " m = Mul (x, h)\n y = Mul (m, p)",
    )
    graph = graph_from_text(text)
    values = {"x": (np.random.default_rng(1).standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)}
    want = run_graph(graph, values)[0]
    normalize(graph)
    assert ir.BRIDGEC_DOMAIN + "::Erf" in [ir.op_label(n) for n in graph.nodes]
    for target in ("iOS13", "iOS14"):
        lowered = passes.pipeline("lower-custom").run(graph.copy(), target=capabilities_for(target))
        spec = build_spec(lowered, target)
        kinds = [layer.WhichOneof("layer") for layer in spec.neuralNetwork.layers]
        assert "erf" in kinds and "custom" not in kinds
        assert_matches(run_coreml(spec, values)["y"], want, tolerance=1e-6)


def test_erf_kernel_still_serves_a_custom_erf_layer():
    # the bundled kernel stays in the catalog: a custom-domain Erf (a user's --load-passes rule, or a
    # target without the layer) still emits as CustomLayerParams and computes erf
    import onnx_graphsurgeon as gs
    import torch

    from bridgec.backends.coreml.executor import run as run_coreml
    from bridgec.backends.coreml.neuralnetwork import build_spec
    from bridgec.core import ir

    x = gs.Variable("x", np.float32, (2, 3, 4, 5))
    y = gs.Variable("y", np.float32, (2, 3, 4, 5))
    node = gs.Node("Erf", "erf", inputs=[x], outputs=[y], domain=ir.CUSTOM_DOMAIN)
    graph = gs.Graph(nodes=[node], inputs=[x], outputs=[y], opset=17)
    spec = build_spec(graph, "iOS14")
    assert [layer.custom.className for layer in spec.neuralNetwork.layers] == ["Erf"]
    values = np.linspace(-4, 4, 120, dtype=np.float32).reshape(2, 3, 4, 5)
    got = run_coreml(spec, {"x": values})["y"]
    assert_matches(got, torch.erf(torch.from_numpy(values)).numpy(), tolerance=1e-6)


def test_prelu_with_a_runtime_slope():
    text = model_text(XY + ", float[5] s", OUT, "y = PRelu (x, s)")
    kinds = assert_matches_onnxruntime(text, "iOS13")
    assert {"activation", "minBroadcastable", "multiplyBroadcastable", "addBroadcastable"} <= set(kinds)
