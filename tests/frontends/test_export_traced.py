"""The TorchScript exporter where it used to give way to dynamo: nn.MultiheadAttention's packed
projection (``aten::unflatten``, whose torch.onnx symbolic lost the rank) traced with autograd on,
and a torch.export program traced (``ep.module()``) under ``--exporter auto``; programs whose trace
would not hold what they do (free sizes, written buffers, control flow) stay on dynamo. Numbers are
compared with PyTorch on inputs other than the ones the export traced with."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.vision_transformer import EncoderBlock

from bridgec.core import ir
from bridgec.frontends import LoadOptions, open_source, pt2_direct, pytorch_export
from tests.helpers import assert_matches, run_graph


def _quiet(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


def _save_pt2(module, args, path, **kwargs):
    program = _quiet(lambda: torch.export.export(module.eval(), args, **kwargs))
    torch.export.save(program, path)
    return path


def _open(path, inputs=None, exporter="auto"):
    """The source read with ``exporter``, the progress lines and the notes it gave."""
    steps, notes = [], []
    options = LoadOptions(exporter=exporter, notify=notes.append, progress=steps.append)
    source = open_source(path, inputs, options)
    return source, [s for s in steps if "to ONNX" in s], notes


def _feeds(source, seed=1):
    """Inputs other than the traced example: a trace fixing a value would show."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, value in source.example.items():
        if value.dtype.kind == "f":
            feeds[name] = rng.standard_normal(value.shape).astype(value.dtype)
        else:
            feeds[name] = rng.integers(0, 5, value.shape).astype(value.dtype)
    return feeds


def _assert_same_numbers(source):
    feeds = _feeds(source)
    want = source.run(feeds)
    got = run_graph(source.graph, feeds)
    assert [t.name for t in source.graph.outputs] == list(want)
    for (name, expected), value in zip(want.items(), got, strict=True):
        assert_matches(value, expected, tolerance=1e-5, what=name)


def _encoder():
    torch.manual_seed(0)
    return EncoderBlock(num_heads=2, hidden_dim=16, mlp_dim=32, dropout=0.0, attention_dropout=0.0).eval()


@pytest.mark.parametrize("grad", [True, False], ids=["autograd", "no_grad"])
def test_a_vit_encoder_block_exports_through_torchscript(tmp_path, grad):
    # with autograd on, nn.MultiheadAttention runs its packed projection (aten::unflatten) instead of
    # the fused aten::_native_multi_head_attention
    x = torch.randn(1, 5, 16)
    with torch.set_grad_enabled(grad):
        traced = _quiet(lambda: torch.jit.trace(_encoder(), (x,), check_trace=False))
    ops = {n.kind() for n in traced.inlined_graph.nodes()}
    assert ("aten::unflatten" in ops) == grad
    torch.jit.save(traced, tmp_path / "enc.pt")
    source, steps, notes = _open(tmp_path / "enc.pt", {"input": (1, 5, 16)}, exporter="torchscript")
    assert notes == []
    labels = [ir.op_label(n) for n in source.graph.nodes]
    assert labels.count("ai.bridgec::ScaledDotProductAttention") == 1
    _assert_same_numbers(source)


def test_unflatten_keeps_the_rank_with_sizes_computed_in_the_graph(tmp_path):
    class Split(nn.Module):
        def forward(self, x):
            # a traced size: the unflattened sizes are a list built in the graph
            return x.unflatten(-1, (2, x.shape[-1] // 2)).transpose(1, 2)

    traced = _quiet(lambda: torch.jit.trace(Split(), (torch.randn(3, 4, 6),), check_trace=False))
    torch.jit.save(traced, tmp_path / "split.pt")
    source, _, _ = _open(tmp_path / "split.pt", {"x": (3, 4, 6)}, exporter="torchscript")
    _assert_same_numbers(source)


class _Heads(nn.Module):
    """Kept ops (one from an in-place ReLU6), packed projections (unflatten), a dict of outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 4, stride=4)
        self.act = nn.ReLU6(inplace=True)
        self.proj = nn.Linear(16, 48)

    def forward(self, x):
        y = self.act(self.conv(x)).flatten(2).transpose(1, 2)
        z = self.proj(y).unflatten(-1, (3, 16)).unsqueeze(0).transpose(0, -2).squeeze(-2)
        return {"tokens": z[0] * z[1] + z[2], "pooled": nn.functional.hardswish(y.mean(1))}


class _HeadsCumulative(_Heads):
    """``_Heads`` with an op the direct exporter does not write (``aten.cumsum``)."""

    def forward(self, x):
        outputs = super().forward(x)
        return {"tokens": outputs["tokens"], "pooled": outputs["pooled"].cumsum(-1)}


def test_a_pt2_is_traced_for_the_torchscript_exporter_under_auto(tmp_path):
    path = _save_pt2(_HeadsCumulative(), (torch.randn(1, 3, 8, 8),), tmp_path / "heads.pt2")
    source, steps, notes = _open(path)
    assert steps == ["exporting heads.pt2 to ONNX with the torchscript exporter"]
    assert notes == []
    labels = [ir.op_label(n) for n in source.graph.nodes]
    for kept in ("HardTanh", "HardSwish"):
        assert f"ai.bridgec::{kept}" in labels
    assert [t.name for t in source.graph.outputs] == ["tokens", "pooled"]
    _assert_same_numbers(source)
    # and what dynamo makes of it has the same interface
    by_dynamo, steps, _ = _open(path, exporter="dynamo")
    assert steps == ["exporting heads.pt2 to ONNX with the dynamo exporter"]
    assert [t.name for t in by_dynamo.graph.outputs] == ["tokens", "pooled"]
    assert [(t.name, t.shape) for t in by_dynamo.graph.inputs] == [
        (t.name, t.shape) for t in source.graph.inputs
    ]


class _Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(5, 8)
        self.proj = nn.Linear(8, 3)

    def forward(self, ids, scale):
        h = self.embed(ids) * scale
        return self.proj(h), h.sum(-1)


def test_a_traced_pt2_keeps_int64_inputs_and_several_outputs(tmp_path):
    args = (torch.tensor([[1, 4, 0, 2]]), torch.randn(1, 4, 1))
    path = _save_pt2(_Tokens(), args, tmp_path / "tokens.pt2")
    source, steps, _ = _open(path)
    assert steps == ["exporting tokens.pt2 to ONNX with the torchscript exporter"]
    assert [(t.name, t.dtype) for t in source.graph.inputs] == [("ids", np.int64), ("scale", np.float32)]
    assert [t.name for t in source.graph.outputs] == ["output", "output_1"]
    _assert_same_numbers(source)


def test_a_pt2_with_a_dynamic_dim_stays_on_dynamo(tmp_path):
    batch = torch.export.Dim("batch", min=1, max=8)
    path = _save_pt2(
        _Tokens(),
        (torch.tensor([[1, 4, 0, 2], [3, 3, 1, 0]]), torch.randn(2, 4, 1)),
        tmp_path / "dynamic.pt2",
        dynamic_shapes={"ids": {0: batch}, "scale": {0: batch}},
    )
    program = torch.export.load(path)
    assert pytorch_export.trace_refusal(program) == "it has dynamic or data-dependent sizes"
    source, steps, notes = _open(path, {"ids": ((2, 4), "int64"), "scale": (2, 4, 1)})
    assert steps == ["exporting dynamic.pt2 to ONNX with the dynamo exporter"]
    assert notes == []
    _assert_same_numbers(source)


class _Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("total", torch.zeros(4))

    def forward(self, x):
        self.total.add_(x)
        return x * 2 + self.total


def test_a_pt2_writing_a_buffer_stays_on_dynamo(tmp_path):
    path = _save_pt2(_Counter(), (torch.randn(4),), tmp_path / "counter.pt2")
    source, steps, _ = _open(path)
    assert steps == ["exporting counter.pt2 to ONNX with the dynamo exporter"]
    assert source.state is not None  # the written buffer became state, as before
    program = torch.export.load(path)
    # never traced without pt2_state's proof, whatever the signature says
    assert pytorch_export.exporters_in_order(program, "auto", "dynamo", pure=False) == ["dynamo"]


def test_a_pt2_with_attention_is_written_directly(tmp_path):
    # trace_refusal keeps it from the trace (its graph would double); the direct exporter writes
    # nn.MultiheadAttention's packed projection and the attention node as dynamo does
    path = _save_pt2(_encoder(), (torch.randn(1, 5, 16),), tmp_path / "enc.pt2")
    assert pytorch_export.trace_refusal(torch.export.load(path)).startswith("it holds attention")
    source, steps, _ = _open(path)
    assert steps == ["exporting enc.pt2 to ONNX with the direct exporter"]
    assert "ai.bridgec::ScaledDotProductAttention" in [ir.op_label(n) for n in source.graph.nodes]
    _assert_same_numbers(source)


def test_a_pt2_with_control_flow_stays_on_dynamo():
    class Branch(nn.Module):
        def forward(self, x):
            return torch.cond(x.sum() > 0, lambda t: t * 2, lambda t: t - 1, (x,))

    program = _quiet(lambda: torch.export.export(Branch(), (torch.randn(3),)))
    assert pytorch_export.trace_refusal(program) == "it calls cond"
    assert pytorch_export.exporters_in_order(program, "auto", "dynamo", pure=True) == ["dynamo"]


def test_a_failed_trace_falls_back_to_dynamo_in_one_progress_line(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::frobnicate\nlong trace")

    monkeypatch.setitem(pytorch_export._EXPORTERS, "torchscript", broken)
    path = _save_pt2(_Tokens(), (torch.tensor([[1, 4, 0, 2]]), torch.randn(1, 4, 1)), tmp_path / "t.pt2")
    source, steps, notes = _open(path)
    assert steps == [
        "exporting t.pt2 to ONNX with the torchscript exporter",
        "exporting t.pt2 to ONNX with the dynamo exporter (the torchscript exporter failed on its trace: "
        "unsupported operator aten::frobnicate)",
    ]
    assert notes == []  # dynamo is a .pt2's own exporter: no warning
    _assert_same_numbers(source)


class _Unused(nn.Module):
    def forward(self, x, y):
        return x * 2


def test_a_pt2_with_an_unused_input_keeps_it(tmp_path, monkeypatch):
    path = _save_pt2(_Unused(), (torch.randn(2, 3), torch.randn(2, 3)), tmp_path / "unused.pt2")
    source, steps, _ = _open(path)
    assert steps == ["exporting unused.pt2 to ONNX with the direct exporter"]
    assert [t.name for t in source.graph.inputs] == ["x", "y"]
    # the trace refuses it for that input; dynamo keeps it
    monkeypatch.setattr(pt2_direct, "refusal", lambda program: "not for this test")
    source, steps, _ = _open(path)
    assert steps == ["exporting unused.pt2 to ONNX with the dynamo exporter"]
    assert [t.name for t in source.graph.inputs] == ["x", "y"]
    # past trace_refusal, the exported inputs are checked too
    monkeypatch.setattr(pytorch_export, "trace_refusal", lambda program: None)
    source, steps, _ = _open(path)
    assert steps[1].endswith(
        "(the torchscript exporter failed on its trace: its trace kept inputs x of x, y)"
    )
    assert [t.name for t in source.graph.inputs] == ["x", "y"]


def _forwards_counted(monkeypatch):
    """The forward passes of every TorchScript module run from Python (their submodules run inside
    TorchScript, so one per whole-model call), and the exporter's own example-outputs run."""
    from torch.onnx._internal.torchscript_exporter import utils

    calls = {"forward": 0, "exporter": 0}
    call_impl = torch.nn.Module._call_impl

    def counted(self, *args, **kwargs):
        if isinstance(self, torch.jit.ScriptModule):
            calls["forward"] += 1
        return call_impl(self, *args, **kwargs)

    original = utils._get_example_outputs

    def exporter_run(model, args):
        calls["exporter"] += 1
        return original(model, args)

    monkeypatch.setattr(torch.nn.Module, "_call_impl", counted)
    monkeypatch.setattr(utils, "_get_example_outputs", exporter_run)
    return calls


@pytest.mark.parametrize("outputs", ["tensor", "dict"])
def test_a_torchscript_file_runs_once_and_the_exporter_reuses_its_outputs(tmp_path, monkeypatch, outputs):
    """One forward pass: the check's reference, the export's output names and the exporter's output
    shapes all come from it (they were three runs: 0.3 s of resnet50's conversion)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            return {"y": y, "s": y.sum(dim=1)} if outputs == "dict" else y

    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    traced = _quiet(lambda: torch.jit.trace(Net().eval(), torch.zeros(1, 3, 8, 8), strict=False))
    torch.jit.save(traced, path)
    calls = _forwards_counted(monkeypatch)
    # TorchScript's exporter by name: under auto the direct exporter would write this graph itself
    source, steps, _ = _open(path, {"x": (1, 3, 8, 8)}, exporter="torchscript")
    assert steps == ["exporting net.pt to ONNX with the torchscript exporter"]
    # a dict's flattening wrapper is traced (a trace is a run of its own) and then exported
    assert calls == {"forward": 1 if outputs == "tensor" else 2, "exporter": 0}
    want = source.run(source.example)
    shapes = {t.name: tuple(t.shape) for t in source.graph.outputs}
    assert shapes == {name: value.shape for name, value in want.items()}
    _assert_same_numbers(source)
