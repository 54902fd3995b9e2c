"""Kept-activation lowering rules: the first form the target supports, numbers equal to torch's in
onnxruntime after lowering and in the emitted Core ML model (reference executor)."""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs
import pytest
import torch
from torch.nn import functional as F

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.backends.coreml.targets import Target
from bridgec.core import ir
from bridgec.core.ops.activations import SELU_ALPHA, SELU_GAMMA
from tests.helpers import assert_io_kept, assert_matches, op_types, run_graph

X = (np.random.default_rng(3).standard_normal((1, 4, 5, 6)) * 5).astype(np.float32)
K = ir.BRIDGEC_DOMAIN + "::"

# (op, attributes, target, avoided ops, expected ops after lowering, torch reference)
CASES = [
    ("HardSwish", {}, "iOS14", (), ["HardSigmoid", "Mul"], F.hardswish),
    ("HardSwish", {}, "iOS14", ("HardSigmoid",), ["Add", "Clip", "Div", "Mul"], F.hardswish),
    ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, "iOS14", (), [K + "HardSigmoid"], F.hardsigmoid),
    (
        "HardSigmoid",
        {"alpha": 1 / 6, "beta": 0.5},
        "iOS14",
        ("HardSigmoid",),
        ["Add", "Clip", "Mul"],
        F.hardsigmoid,
    ),
    ("Gelu", {"approximate": "none"}, "iOS14", (), [K + "Gelu"], F.gelu),
    ("Gelu", {"approximate": "tanh"}, "iOS14", (), [K + "Gelu"], lambda t: F.gelu(t, approximate="tanh")),
    (
        "Gelu",
        {"approximate": "tanh"},
        "iOS13",
        (),
        ["Add", "Add", "Mul", "Mul", "Mul", "Mul", "Mul", "Mul", "Tanh"],
        lambda t: F.gelu(t, approximate="tanh"),
    ),
    ("Gelu", {"approximate": "none"}, "iOS13", (), [K + "Gelu"], F.gelu),  # needs erf: custom layer
    ("Silu", {}, "iOS14", (), ["Mul", "Sigmoid"], F.silu),
    ("Mish", {}, "iOS14", (), ["Mul", "Softplus", "Tanh"], F.mish),
    ("Elu", {"alpha": 0.7}, "iOS14", (), [K + "Elu"], lambda t: F.elu(t, 0.7)),
    ("Selu", {"alpha": SELU_ALPHA, "gamma": SELU_GAMMA}, "iOS14", (), ["Elu", "Mul"], F.selu),
    ("Celu", {"alpha": 1.3}, "iOS14", (), ["Div", "Elu", "Mul"], lambda t: F.celu(t, 1.3)),
    ("Celu", {"alpha": -0.5}, "iOS14", (), [K + "Celu"], lambda t: F.celu(t, -0.5)),
    ("Softplus", {"beta": 1.0, "threshold": 20.0}, "iOS14", (), [K + "Softplus"], F.softplus),
    ("Softplus", {"beta": 1.0, "threshold": math.inf}, "iOS14", (), [K + "Softplus"], F.softplus),
    (
        "Softplus",
        {"beta": 2.0, "threshold": 20.0},
        "iOS14",
        (),
        ["Div", "Mul", "Softplus"],
        lambda t: F.softplus(t, 2.0),
    ),
    (
        "Softplus",
        {"beta": 1.0, "threshold": 5.0},
        "iOS14",
        (),
        [K + "Softplus"],
        lambda t: F.softplus(t, 1.0, 5.0),
    ),
    ("LeakyRelu", {"alpha": 0.2}, "iOS14", (), [K + "LeakyRelu"], lambda t: F.leaky_relu(t, 0.2)),
    ("LeakyRelu", {"alpha": 0.2}, "iOS14", ("LeakyRelu",), ["Max", "Mul"], lambda t: F.leaky_relu(t, 0.2)),
    ("LeakyRelu", {"alpha": 1.5}, "iOS14", ("LeakyRelu",), [K + "LeakyRelu"], lambda t: F.leaky_relu(t, 1.5)),
    ("Softshrink", {"lambd": 1.5}, "iOS14", (), ["Clip", "Sub"], lambda t: F.softshrink(t, 1.5)),
    ("Softshrink", {"lambd": 1.5}, "iOS14", ("Clip",), [K + "Softshrink"], lambda t: F.softshrink(t, 1.5)),
    (
        "Hardshrink",
        {"lambd": 1.5},
        "iOS13",
        (),
        ["Abs", "LessOrEqual", "Where"],
        lambda t: F.hardshrink(t, 1.5),
    ),
    ("Hardshrink", {"lambd": 1.5}, "iOS14", ("Where",), [K + "Hardshrink"], lambda t: F.hardshrink(t, 1.5)),
]


def graph_of(op: str, attrs: dict) -> gs.Graph:
    x = gs.Variable("x", np.float32, X.shape)
    y = gs.Variable("y", np.float32, X.shape)
    node = gs.Node(op, "act", attrs=dict(attrs), inputs=[x], outputs=[y], domain=ir.BRIDGEC_DOMAIN)
    return gs.Graph(nodes=[node], inputs=[x], outputs=[y], opset=17)


@pytest.mark.parametrize("op, attrs, target, avoid, expected, reference", CASES)
def test_first_supported_form_and_numbers(op, attrs, target, avoid, expected, reference):
    graph = graph_of(op, attrs)
    before = graph.copy()
    caps = capabilities_for(target, avoid)
    lowered = passes.Pipeline([passes.LowerKeptActivations()]).run(graph, target=caps)
    assert op_types(lowered) == expected
    assert_io_kept(before, lowered)
    want = reference(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(run_graph(lowered, {"x": X})[0], want, atol=1e-5, rtol=1e-5)
    if all(caps.unsupported_reason(n) is None for n in lowered.nodes):  # what is left is native: emit it
        got = run_coreml(build_spec(lowered, caps.target), {"x": X})["y"]
        assert_matches(got, want, tolerance=1e-7)
    else:
        assert expected[0].startswith(K)  # only the unlowerable cases stay for custom layers


@pytest.mark.parametrize("target, format", [("iOS13", "neuralnetwork"), ("iOS15", "mlprogram")])
def test_hardshrink_band_is_closed_and_nan_passes_through(target, format):
    """torch zeroes |x| <= lambd (closed band, +0.0 for -0.0) and keeps NaN and +-inf: the lowered
    form in onnxruntime and in both Core ML formats, bit for bit (a "|x| > lambd" test zeroes NaN)."""
    x = X.copy()
    edges = [1.5, -1.5, math.nextafter(1.5, 2), math.nextafter(-1.5, -2), math.nextafter(1.5, 0)]
    edges += [0.0, -0.0, math.inf, -math.inf, math.nan]
    x.reshape(-1)[: len(edges)] = edges
    want = F.hardshrink(torch.from_numpy(x), 1.5).numpy()
    caps = capabilities_for(target)
    lowered = passes.Pipeline([passes.LowerKeptActivations()]).run(
        graph_of("Hardshrink", {"lambd": 1.5}), target=caps
    )
    assert op_types(lowered) == ["Abs", "LessOrEqual", "Where"]
    if format == "mlprogram":
        coreml = run_mlprogram(build_mlprogram(lowered.copy(), Target.parse(target, format=format)), {"x": x})
    else:
        coreml = run_coreml(build_spec(lowered, caps.target), {"x": x})
    for got in (run_graph(lowered, {"x": x})[0], coreml["y"]):
        np.testing.assert_array_equal(got, want)
        assert not np.signbit(got.reshape(-1)[6])  # -0.0 in the band is +0.0


def test_native_layers_are_refused_where_semantics_differ():
    caps = capabilities_for("iOS14")
    small = graph_of("Softplus", {"beta": 1.0, "threshold": 5.0}).nodes[0]
    assert "linear region" in caps.unsupported_reason(small)
    scaled = graph_of("Softplus", {"beta": 2.0, "threshold": 20.0}).nodes[0]
    assert "beta" in caps.unsupported_reason(scaled)
    gelu = graph_of("Gelu", {"approximate": "none"}).nodes[0]
    assert "iOS14" in capabilities_for("iOS13").unsupported_reason(gelu)


def test_lowering_is_in_the_lowering_pipelines():
    for name in ("lower", "lower-custom"):
        assert "lower::kept_activations" in passes.PIPELINES[name]
