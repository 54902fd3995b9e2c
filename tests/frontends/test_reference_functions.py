"""The reference functions: every declared bridgec op runs in onnxruntime (as an ONNX function, in
both bridgec domains and at every opset form) and computes what torch computes."""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs
import pytest
import torch
from torch.nn import functional as F

from bridgec.core import ir, ops
from tests.helpers import run_graph

X = np.concatenate(
    [
        (np.random.default_rng(0).standard_normal(200) * 6).astype(np.float32),
        np.array([0.0, -0.0, 1e-8, -30.0, 30.0, 4.9, 5.1, 2.5, -2.5], np.float32),
    ]
).reshape(1, -1)

# op -> [(attributes, torch reference)]
CASES = {
    "HardTanh": [({"min_value": -1.5, "max_value": 2.0}, lambda t: F.hardtanh(t, -1.5, 2.0))],
    "HardSwish": [({}, F.hardswish)],
    "HardSigmoid": [(ops.get("HardSigmoid").defaults, F.hardsigmoid)],
    "Gelu": [
        ({"approximate": "none"}, F.gelu),
        ({"approximate": "tanh"}, lambda t: F.gelu(t, approximate="tanh")),
    ],
    "Silu": [({}, F.silu)],
    "Mish": [({}, F.mish)],
    "Elu": [({"alpha": 0.7}, lambda t: F.elu(t, 0.7))],
    "Selu": [(ops.get("Selu").defaults, F.selu)],
    "Celu": [({"alpha": 1.3}, lambda t: F.celu(t, 1.3)), ({"alpha": -0.5}, lambda t: F.celu(t, -0.5))],
    "Softplus": [
        ({"beta": 1.0, "threshold": 20.0}, F.softplus),
        ({"beta": 2.0, "threshold": 5.0}, lambda t: F.softplus(t, 2.0, 5.0)),
        ({"beta": 1.0, "threshold": math.inf}, lambda t: torch.log1p(torch.exp(t))),
    ],
    "LeakyRelu": [({"alpha": 0.2}, lambda t: F.leaky_relu(t, 0.2))],
    "Erf": [({}, torch.erf)],
    "Softshrink": [({"lambd": 0.5}, F.softshrink), ({"lambd": 2.5}, lambda t: F.softshrink(t, 2.5))],
    # X holds +-2.5: the band |x| <= lambd is closed
    "Hardshrink": [({"lambd": 0.5}, F.hardshrink), ({"lambd": 2.5}, lambda t: F.hardshrink(t, 2.5))],
}


def one_node_graph(op: str, attrs: dict, opset: int, domain: str) -> gs.Graph:
    x = gs.Variable("x", np.float32, X.shape)
    y = gs.Variable("y", np.float32, X.shape)
    node = gs.Node(op, "n", attrs=dict(attrs), inputs=[x], outputs=[y], domain=domain)
    return gs.Graph(nodes=[node], inputs=[x], outputs=[y], opset=opset)


def test_every_declared_op_has_a_reference_function_and_a_test():
    # attention, with more inputs than x, is held to torch in tests/frontends/test_attention.py
    assert set(CASES) == {decl.name for decl in ops.all() if decl.elementwise}
    for decl in ops.all():
        names = [f.name for f in ir.function_definitions(ir.BRIDGEC_DOMAIN, decl.function_names(), 17)]
        assert names == sorted(decl.function_names()), decl.name
        assert ir.specialised_op(decl.name, decl.defaults) in names


@pytest.mark.parametrize("domain", [ir.BRIDGEC_DOMAIN, ir.CUSTOM_DOMAIN])
@pytest.mark.parametrize("opset", [11, 13, 17, 18])
@pytest.mark.parametrize("op", CASES)
def test_reference_matches_torch(op, opset, domain):
    t = torch.from_numpy(X)
    for attrs, reference in CASES[op]:
        got = run_graph(one_node_graph(op, attrs, opset, domain), {"x": X})[0]
        np.testing.assert_allclose(got, reference(t).numpy(), atol=2e-6, rtol=1e-6, err_msg=str(attrs))


def test_export_keeps_the_graph_op_names():
    graph = one_node_graph("Gelu", {"approximate": "tanh"}, 17, ir.BRIDGEC_DOMAIN)
    model = ir.export_model(graph)
    assert [f.name for f in model.functions] == ["Gelu__tanh"]
    assert graph.nodes[0].op == "Gelu"  # the specialised name lives only in the exported copy
