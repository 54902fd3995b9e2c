"""TorchScript frontend: hardtanh in every torch spelling reaches the passes as ONE bridgec node."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bridgec import frontends
from bridgec.core import ir
from bridgec.core.errors import UsageError
from tests.helpers import assert_matches, run_graph


class Act(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.conv(x) * 4)


CASES = {
    "ReLU6": (nn.ReLU6(), (0.0, 6.0)),
    "ReLU6_inplace": (nn.ReLU6(inplace=True), (0.0, 6.0)),
    "Hardtanh_int_bounds": (nn.Hardtanh(-2, 2), (-2.0, 2.0)),
    "Hardtanh_default": (nn.Hardtanh(), (-1.0, 1.0)),
    "F.relu6": (lambda x: F.relu6(x), (0.0, 6.0)),
    "F.hardtanh": (lambda x: F.hardtanh(x, -0.5, 3.25), (-0.5, 3.25)),
    "F.hardtanh_inplace": (lambda x: F.hardtanh(x, -1.5, 0.5, inplace=True), (-1.5, 0.5)),
}


def save(module: nn.Module, path, script: bool = False):
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = torch.jit.script(module) if script else torch.jit.trace(module, torch.randn(1, 3, 8, 8))
    torch.jit.save(compiled, str(path))
    return path


@pytest.mark.parametrize("case", CASES)
def test_hardtanh_spellings_become_one_bridgec_node(case, tmp_path):
    fn, expected = CASES[case]
    path = save(Act(fn), tmp_path / "m.pt")
    graph = frontends.load(path, inputs={"x": (1, 3, 8, 8)})
    kept = [n for n in graph.nodes if ir.op_key(n) == (ir.BRIDGEC_DOMAIN, "HardTanh")]
    assert len(kept) == 1
    assert (kept[0].attrs["min_value"], kept[0].attrs["max_value"]) == expected
    assert not [n for n in graph.nodes if n.op == "Clip"]
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected_out = torch.jit.load(str(path))(torch.from_numpy(x)).numpy()
    assert_matches(run_graph(graph, {"x": x})[0], expected_out, tolerance=1e-6)


def test_scripted_module_relu6(tmp_path):
    path = save(Act(nn.ReLU6()), tmp_path / "s.pt", script=True)
    graph = frontends.load(path, inputs={"x": (1, 3, 8, 8)})
    assert [ir.op_label(n) for n in graph.nodes].count("ai.bridgec::HardTanh") == 1


def test_input_names_come_from_forward_and_shapes_are_required(tmp_path):
    path = save(Act(nn.ReLU6()), tmp_path / "m.pt")
    with pytest.raises(UsageError, match=r"no input shapes; pass --input x:"):
        frontends.load(path)
    with pytest.raises(UsageError, match=r"not inputs of the model \(its inputs: x\)"):
        frontends.load(path, inputs={"image": (1, 3, 8, 8)})
    graph = frontends.load(path, inputs={None: (1, 3, 8, 8)})  # unnamed shape, single input
    assert [t.name for t in graph.inputs] == ["x"]
    assert graph.inputs[0].shape == [1, 3, 8, 8]


def test_wrong_shape_is_a_usage_error(tmp_path):
    path = save(Act(nn.ReLU6()), tmp_path / "m.pt")
    with pytest.raises(UsageError, match="does not run on inputs of shape"):
        frontends.load(path, inputs={"x": (1, 4, 8, 8)})


def test_registration_is_undone_after_export(tmp_path):
    """Other code exporting in the same process must still get torch's own Clip."""
    path = save(Act(nn.ReLU6()), tmp_path / "m.pt")
    frontends.load(path, inputs={"x": (1, 3, 8, 8)})
    import io

    import onnx

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            torch.jit.load(str(path)), (torch.randn(1, 3, 8, 8),), buffer, dynamo=False, opset_version=17
        )
    ops = [n.op_type for n in onnx.load_from_string(buffer.getvalue()).graph.node]
    assert "Clip" in ops and "HardTanh" not in ops


def test_dict_outputs_are_flattened_with_their_keys(tmp_path):
    class Seg(nn.Module):
        def forward(self, x):
            return {"out": F.relu6(x), "aux": torch.sigmoid(x)}

    module = Seg().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, torch.randn(1, 3, 4, 4), strict=False)
    torch.jit.save(traced, str(tmp_path / "d.pt"))
    graph = frontends.load(tmp_path / "d.pt", inputs={"x": (1, 3, 4, 4)})
    assert [t.name for t in graph.outputs] == ["out", "aux"]
    assert [ir.op_label(n) for n in graph.nodes].count("ai.bridgec::HardTanh") == 1  # kept ops still kept
    x = np.random.default_rng(2).standard_normal((1, 3, 4, 4)).astype(np.float32)
    out, aux = run_graph(graph, {"x": x})
    assert_matches(out, np.clip(x, 0, 6), tolerance=0)
    assert_matches(aux, torch.sigmoid(torch.from_numpy(x)).numpy(), tolerance=1e-6)


def test_tuple_outputs_are_named_in_order(tmp_path):
    class Two(nn.Module):
        def forward(self, x):
            return F.relu6(x), torch.sigmoid(x)

    path = save(Two(), tmp_path / "t.pt")
    graph = frontends.load(path, inputs={"x": (1, 3, 8, 8)})
    assert [t.name for t in graph.outputs] == ["output", "output_1"]
