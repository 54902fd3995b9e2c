"""Kept ops: every torch activation of the frontend table reaches the passes as ONE bridgec node
with the BRIDGEC_OPS attributes, and that node computes what torch computes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bridgec import frontends
from bridgec.core import ir, ops
from bridgec.frontends.kept_ops import KEPT_OPS
from tests.helpers import assert_matches, run_graph


class Act(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 1)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.conv(x) * 4)


SELU = ops.get("Selu").defaults

# case -> (module or function, bridgec op, expected attributes)
CASES = {
    "Hardswish": (nn.Hardswish(), "HardSwish", {}),
    "Hardswish_inplace": (nn.Hardswish(inplace=True), "HardSwish", {}),
    "Hardsigmoid": (nn.Hardsigmoid(), "HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
    "GELU": (nn.GELU(), "Gelu", {"approximate": "none"}),
    "GELU_tanh": (nn.GELU("tanh"), "Gelu", {"approximate": "tanh"}),
    "SiLU": (nn.SiLU(), "Silu", {}),
    "SiLU_inplace": (nn.SiLU(inplace=True), "Silu", {}),
    "Mish": (nn.Mish(), "Mish", {}),
    "ELU": (nn.ELU(0.7), "Elu", {"alpha": 0.7}),
    "ELU_inplace": (nn.ELU(inplace=True), "Elu", {"alpha": 1.0}),
    "SELU": (nn.SELU(), "Selu", SELU),
    "CELU": (nn.CELU(1.3), "Celu", {"alpha": 1.3}),
    "Softplus": (nn.Softplus(), "Softplus", {"beta": 1.0, "threshold": 20.0}),
    "Softplus_beta": (nn.Softplus(2.0, 5.0), "Softplus", {"beta": 2.0, "threshold": 5.0}),
    "LeakyReLU": (nn.LeakyReLU(0.2), "LeakyRelu", {"alpha": 0.2}),
    "F.leaky_relu_inplace": (lambda x: F.leaky_relu(x, 0.05, inplace=True), "LeakyRelu", {"alpha": 0.05}),
    "F.gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), "Gelu", {"approximate": "tanh"}),
    "Softshrink": (nn.Softshrink(), "Softshrink", {"lambd": 0.5}),
    "Softshrink_lambd": (nn.Softshrink(1.5), "Softshrink", {"lambd": 1.5}),
    "Hardshrink": (nn.Hardshrink(), "Hardshrink", {"lambd": 0.5}),
    "F.hardshrink_lambd": (lambda x: F.hardshrink(x, 1.5), "Hardshrink", {"lambd": 1.5}),
}


def save(fn, path):
    module = Act(fn).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module, torch.randn(1, 3, 8, 8)), str(path))
    return path


@pytest.mark.parametrize("case", CASES)
def test_kept_op_is_one_bridgec_node_with_torch_numbers(case, tmp_path):
    fn, op, attrs = CASES[case]
    path = save(fn, tmp_path / "m.pt")
    graph = frontends.load(path, inputs={"x": (1, 3, 8, 8)})
    (node,) = [n for n in graph.nodes if n.domain == ir.BRIDGEC_DOMAIN]
    assert node.op == op
    assert [ir.op_label(n) for n in graph.nodes if n.op not in ("Conv", "Mul", "Constant")] == [
        ir.op_label(node)
    ]
    assert set(node.attrs) == set(ir.BRIDGEC_OPS[op])
    for key, want in attrs.items():
        got = node.attrs[key]
        assert got == want if isinstance(want, str) else got == pytest.approx(want, rel=1e-6)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = torch.jit.load(str(path))(torch.from_numpy(x)).numpy()
    assert_matches(run_graph(graph, {"x": x})[0], expected, tolerance=1e-6)


def test_table_covers_the_issue_list_and_matches_the_contract():
    wanted = {"hardtanh", "relu6", "hardswish", "hardsigmoid", "gelu", "silu", "mish", "elu", "selu"}
    wanted |= {"celu", "softplus", "leaky_relu"}
    assert wanted <= {kept.aten.removeprefix("aten::").rstrip("_") for kept in KEPT_OPS}
    assert {kept.op for kept in KEPT_OPS} <= {decl.name for decl in ops.all()}
