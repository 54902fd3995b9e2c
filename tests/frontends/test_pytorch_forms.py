"""Every way torch saves a model: .pt2 archives, pickled modules (only when trusted), state_dicts
with --arch, and both exporters, with dict outputs flattened by key."""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from bridgec import frontends
from bridgec.core import ir
from bridgec.core.errors import ConversionError, UsageError
from bridgec.frontends import LoadOptions, onnx_file, pytorch_export
from tests.helpers import assert_matches, run_graph

NETDEF = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, width=4):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.act = nn.Hardswish()

        def forward(self, x):
            y = self.act(self.conv(x))
            return {"out": y, "aux": torch.sigmoid(y)}
    """
)
SHAPE = (1, 3, 8, 8)
X = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


@pytest.fixture
def userpkg(tmp_path, monkeypatch):
    """A user package defining Net, importable while the fixture saves files, forgotten afterwards."""
    code = tmp_path / "code"
    (code / "userpkg").mkdir(parents=True)
    (code / "userpkg" / "__init__.py").write_text("")
    (code / "userpkg" / "netdef.py").write_text(NETDEF)
    monkeypatch.syspath_prepend(str(code))
    module = importlib.import_module("userpkg.netdef")
    net = module.Net(6).eval()
    files = tmp_path / "files"
    files.mkdir()
    torch.save(net, files / "whole.pt")
    torch.save(net.state_dict(), files / "weights.pt")
    torch.save({"epoch": 3, "state_dict": net.state_dict()}, files / "checkpoint.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(net, (torch.randn(*SHAPE),)), files / "net.pt2")
    with torch.no_grad():
        expected = {k: v.numpy() for k, v in net(torch.from_numpy(X)).items()}
    # the class must now be found through the options only, as in a fresh bridgec process
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(code)])
    for name in [m for m in sys.modules if m == "userpkg" or m.startswith("userpkg.")]:
        monkeypatch.delitem(sys.modules, name)
    return {"code": code, "files": files, "expected": expected}


def check_graph(graph, expected):
    assert [t.name for t in graph.outputs] == ["out", "aux"]
    assert [ir.op_label(n) for n in graph.nodes].count("ai.bridgec::HardSwish") == 1
    got = run_graph(graph, {"x": X})
    assert_matches(got[0], expected["out"], tolerance=1e-6)
    assert_matches(got[1], expected["aux"], tolerance=1e-5)


def test_pt2_archive_needs_no_shapes_and_is_written_directly(userpkg):
    notes, steps = [], []
    path = userpkg["files"] / "net.pt2"
    assert frontends.detect_format(path) == "pt2"
    graph = frontends.load(path, options=LoadOptions(notify=notes.append, progress=steps.append))
    assert graph.inputs[0].shape == list(SHAPE)
    check_graph(graph, userpkg["expected"])
    # fixed sizes, no writes and known ops: auto writes the program op by op (pt2_direct), and one
    # progress line per attempt means that first attempt is the one that ran (no fallback)
    assert [re.search(r"with the (\w+) exporter", s)[1] for s in steps if "exporter" in s] == ["direct"]
    assert notes == []


def test_pt2_with_the_torchscript_exporter_is_a_usage_error(userpkg):
    with pytest.raises(UsageError, match=r"--exporter torchscript cannot export a torch.export program"):
        frontends.load(userpkg["files"] / "net.pt2", options=LoadOptions(exporter="torchscript"))


def test_pt2_with_another_shape_reports_the_models_message(userpkg):
    with pytest.raises(UsageError, match=r"does not run on inputs of shape x:\(1, 3, 9, 9\): "):
        frontends.load(userpkg["files"] / "net.pt2", inputs={"x": (1, 3, 9, 9)})


def test_pickled_module_is_refused_without_trust(userpkg):
    with pytest.raises(UsageError, match=r"a pickled module .*needs --trust-pickle"):
        frontends.load(userpkg["files"] / "whole.pt", inputs={"x": SHAPE})


def test_pickled_module_with_a_missing_class_names_it_and_the_fix(userpkg):
    options = LoadOptions(trust_pickle=True)
    with pytest.raises(UsageError, match=r"the pickle needs userpkg.*pass --import MODULE .*--path DIR"):
        frontends.load(userpkg["files"] / "whole.pt", inputs={"x": SHAPE}, options=options)


@pytest.mark.parametrize("exporter", ["auto", "torchscript", "dynamo"])
def test_trusted_pickle_loads_with_path_and_warns(userpkg, exporter):
    notes = []
    options = LoadOptions(
        exporter=exporter, trust_pickle=True, paths=(str(userpkg["code"]),), imports=("userpkg.netdef",)
    )
    options.notify = notes.append
    graph = frontends.load(userpkg["files"] / "whole.pt", inputs={"x": SHAPE}, options=options)
    check_graph(graph, userpkg["expected"])
    assert any("warning: unpickling whole.pt runs code" in n for n in notes)


def test_state_dict_needs_arch(userpkg):
    with pytest.raises(UsageError, match=r"a state_dict .*--arch pkg.module:Class"):
        frontends.load(userpkg["files"] / "weights.pt", inputs={"x": SHAPE})


@pytest.mark.parametrize("name", ["weights.pt", "checkpoint.pt"])
def test_state_dict_with_arch_builds_and_loads(userpkg, name):
    options = LoadOptions(arch="userpkg.netdef:Net", arch_args='{"width": 6}', paths=(str(userpkg["code"]),))
    graph = frontends.load(userpkg["files"] / name, inputs={"x": SHAPE}, options=options)
    check_graph(graph, userpkg["expected"])


@pytest.mark.parametrize(
    "arch, args, message",
    [
        ("userpkg.netdef:Net", None, r"the weights do not fit userpkg.netdef:Net: .*size mismatch"),
        ("userpkg.netdef:Nope", None, r"cannot import Nope from userpkg.netdef"),
        ("userpkg.netdef:Net", "{width: 6}", r"--arch-args: not JSON"),
        ("userpkg.netdef:Net", '{"depth": 2}', r"the constructor failed"),
    ],
)
def test_arch_mistakes_are_one_line(userpkg, arch, args, message):
    options = LoadOptions(arch=arch, arch_args=args, paths=(str(userpkg["code"]),))
    with pytest.raises(UsageError, match=message) as info:
        frontends.load(userpkg["files"] / "weights.pt", inputs={"x": SHAPE}, options=options)
    assert "\n" not in str(info.value)


def test_pickle_of_something_else_is_refused(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(UsageError, match=r"holding a list, not a module or a state_dict"):
        frontends.load(tmp_path / "list.pt", inputs={"x": SHAPE})


def test_truncated_zip_is_named(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "t.pt")
    data = (tmp_path / "t.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match=r"truncated or damaged zip archive"):
        frontends.load(tmp_path / "cut.pt")


def test_not_a_model_at_all(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match=r"not a model bridgec can read"):
        frontends.load(tmp_path / "notes.txt")


class AllKept(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.acts = nn.ModuleList(
            [
                nn.ReLU6(),
                nn.Hardtanh(-2.0, 2.0),
                nn.Hardswish(),
                nn.Hardsigmoid(),
                nn.GELU(),
                nn.GELU("tanh"),
                nn.SiLU(),
                nn.Mish(),
                nn.ELU(0.7),
                nn.SELU(),
                nn.CELU(1.3),
                nn.Softplus(2.0, 5.0),
                nn.LeakyReLU(0.2),
            ]
        )

    def forward(self, x):
        y = self.conv(x)
        return tuple(act(y) for act in self.acts)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_both_exporters_keep_the_same_ops(exporter):
    module = AllKept().eval()
    args = (torch.from_numpy(X),)
    model, used = pytorch_export.export(module, args, ["x"], exporter)
    assert used == exporter
    graph = onnx_file.graph_from_model(model, Path("m.onnx"))
    kept = sorted(n.op for n in graph.nodes if n.domain == ir.BRIDGEC_DOMAIN)
    assert kept == sorted(
        [
            "HardTanh",
            "HardTanh",
            "HardSwish",
            "HardSigmoid",
            "Gelu",
            "Gelu",
            "Silu",
            "Mish",
            "Elu",
            "Selu",
            "Celu",
            "Softplus",
            "LeakyRelu",
        ]
    )
    with torch.no_grad():
        expected = [t.numpy() for t in module(*args)]
    for got, want in zip(run_graph(graph, {"x": X}), expected, strict=True):
        assert_matches(got, want, tolerance=1e-5)


def test_both_exporters_agree_on_attributes():
    module = AllKept().eval()
    args = (torch.from_numpy(X),)
    found = {}
    for exporter in ("torchscript", "dynamo"):
        model, _ = pytorch_export.export(module, args, ["x"], exporter)
        found[exporter] = sorted(
            (
                n.op_type,
                tuple(
                    sorted(
                        (
                            a.name,
                            round(onnx.helper.get_attribute_value(a), 5)
                            if a.type == a.FLOAT
                            else onnx.helper.get_attribute_value(a),
                        )
                        for a in n.attribute
                    )
                ),
            )
            for n in model.graph.node
            if n.domain == ir.BRIDGEC_DOMAIN
        )
    assert found["torchscript"] == found["dynamo"]


def test_dynamo_schemas_are_removed_after_export():
    pytorch_export.export(AllKept().eval(), (torch.from_numpy(X),), ["x"], "dynamo")
    with pytest.raises(onnx.defs.SchemaError):
        onnx.defs.get_schema("HardTanh", 1, ir.BRIDGEC_DOMAIN)


def test_auto_falls_back_and_says_so(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::frobnicate\nlong trace")

    monkeypatch.setitem(pytorch_export._EXPORTERS, "torchscript", broken)
    notes = []
    _, used = pytorch_export.export(
        nn.Hardswish(), (torch.from_numpy(X),), ["x"], "auto", notify=notes.append
    )
    assert used == "dynamo"
    assert notes == [
        "the torchscript exporter failed (unsupported operator aten::frobnicate); trying the dynamo exporter"
    ]


def test_both_exporters_failing_is_one_conversion_error(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no luck\nmore")

    monkeypatch.setitem(pytorch_export._EXPORTERS, "torchscript", broken)
    monkeypatch.setitem(pytorch_export._EXPORTERS, "dynamo", broken)
    with pytest.raises(
        ConversionError, match=r"^m: torch.onnx export failed: torchscript: no luck; dynamo: no luck$"
    ):
        pytorch_export.export(nn.ReLU(), (torch.from_numpy(X),), ["x"], "auto", name="m")


class Nested(nn.Module):
    def forward(self, x, y):
        return x + y, {"a": x * 2, "b": torch.relu(y)}, [x - y]


def test_nested_outputs_and_several_inputs_get_stable_names(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(Nested(), (torch.randn(2, 3), torch.randn(2, 3)), strict=False)
    torch.jit.save(traced, tmp_path / "n.pt")
    graph = frontends.load(tmp_path / "n.pt", inputs={"x": (2, 3), "y": (2, 3)})
    assert [t.name for t in graph.inputs] == ["x", "y"]
    # Core ML feature names (an ML Program takes identifiers only): nested parts joined with "_"
    assert [t.name for t in graph.outputs] == ["output", "output_1_a", "output_1_b", "output_2_0"]
    x, y = np.ones((2, 3), np.float32), np.full((2, 3), -2.0, np.float32)
    got = run_graph(graph, {"x": x, "y": y})
    for g, w in zip(got, [x + y, x * 2, np.maximum(y, 0), x - y], strict=True):
        assert_matches(g, w, tolerance=1e-7)
    reference = frontends.run_pytorch(tmp_path / "n.pt", {"x": x, "y": y})
    assert list(reference) == [t.name for t in graph.outputs]
