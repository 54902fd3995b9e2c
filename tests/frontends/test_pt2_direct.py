"""The direct exporter (``frontends/pt2_direct.py``): a torch.export program of fixed sizes written to
ONNX op by op. Every translation in its table is exercised here by a program that holds it, read
under ``--exporter auto`` (the progress line proves the direct exporter wrote it) and compared with
PyTorch on inputs other than the ones the program was exported with; what it refuses goes to the
next exporter, in one progress line, with the same numbers."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bridgec.core import ir
from bridgec.frontends import pt2_direct
from bridgec.frontends.pytorch_load import forward_input_names
from tests.frontends.test_export_traced import _assert_same_numbers, _Heads, _open, _save_pt2


def _seeded(module: nn.Module) -> nn.Module:
    """Batch norms with statistics and affine parameters that are not the identity."""
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            if m.affine:
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
    return module.eval()


class _ConvBnRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class _ConvTwoReaders(nn.Module):
    """The conv's output is read by its batch norm and by the sum: it cannot absorb the norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.plain = nn.BatchNorm2d(3, affine=False)

    def forward(self, x):
        y = self.conv(self.plain(x))
        return self.bn(y) + y


class _Convs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2)
        self.c3 = nn.Conv3d(2, 3, (1, 3, 3), stride=(1, 2, 1), bias=False)

    def forward(self, x, v):
        return self.c1(x), self.c3(v)


class _Elementwise(nn.Module):
    def forward(self, x, y):
        a = torch.sigmoid(x) * 2.0 + 1
        b = torch.tanh(y) - x / 3.0
        c = torch.relu(a * b)
        c.mul_(0.5)
        return c + x


class _Shapes(nn.Module):
    def forward(self, x):  # x: [2, 3, 4, 6]
        a = x.view(2, 12, 6).reshape(2, 3, 4, 6).flatten(1).unflatten(1, (3, 24))
        b = a.permute(0, 2, 1).transpose(-1, -2).contiguous().clone()
        c = torch.cat([b, b.detach() * 2], dim=-1).unsqueeze(1).squeeze(1).squeeze(0)
        d = x[:, 1][..., -3:, ::2].unsqueeze(0).squeeze()
        e = x.mean(dim=(2, 3), keepdim=True).expand(2, 3, 4, 6)
        t = x[0, 0].t()
        return c, d, e, t, x.squeeze(2)


class _Norms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(6)
        self.ln2 = nn.LayerNorm((4, 6), elementwise_affine=False, eps=1e-3)
        self.ln.weight.data.uniform_(0.5, 1.5)
        self.ln.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):
        return self.ln(x).softmax(-1), F.softmax(self.ln2(x), dim=1), x.mean(-1)


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 5)
        self.b = nn.Linear(6, 3, bias=False)

    def forward(self, x, m):  # x: [2, 4, 6], m: [2, 6, 4]
        flat = x[:, 0]
        return self.a(flat), self.a(x), self.b(x), self.b(flat), x @ m, torch.bmm(x, m), flat.mm(m[0])


class _Pools(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mp = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.ap = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.gp = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.mp(x), self.ap(x), self.gp(x), F.max_pool2d(x, 2), F.avg_pool2d(x, 2)


class _Attention(nn.Module):
    def forward(self, q, k, v, keep, bias):
        return (
            F.scaled_dot_product_attention(q, k, v),
            F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
            F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.3),
            F.scaled_dot_product_attention(q, k, v, is_causal=True),
        )


_KEPT = [
    (nn.ReLU6(inplace=True), "HardTanh"),
    (nn.Hardtanh(-2, 3), "HardTanh"),  # integer bounds: the attributes are floats
    (nn.SiLU(inplace=True), "Silu"),
    (nn.GELU("tanh"), "Gelu"),
    (nn.GELU(), "Gelu"),
    (nn.LeakyReLU(0.2), "LeakyRelu"),
    (nn.ELU(0.5), "Elu"),
    (nn.Softplus(2.0, 10.0), "Softplus"),
    (nn.Hardswish(), "HardSwish"),
    (nn.Hardsigmoid(), "HardSigmoid"),
    (nn.Mish(), "Mish"),
    (nn.SELU(), "Selu"),
    (nn.CELU(0.7), "Celu"),
    (nn.Softshrink(0.3), "Softshrink"),
    (nn.Hardshrink(0.4), "Hardshrink"),
]


class _Kept(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.act = act

    def forward(self, x):
        return self.act(self.conv(x) * 3)


_CASES = {
    "conv_bn_relu": (_ConvBnRelu, [(1, 3, 9, 9)]),
    "conv_two_readers": (_ConvTwoReaders, [(2, 3, 5, 5)]),
    "convs": (_Convs, [(1, 4, 10), (1, 2, 3, 7, 5)]),
    "elementwise": (_Elementwise, [(2, 3), (2, 3)]),
    "shapes": (_Shapes, [(2, 3, 4, 6)]),
    "norms": (_Norms, [(2, 4, 6)]),
    "linear": (_Linear, [(2, 4, 6), (2, 6, 4)]),
    "pools": (_Pools, [(1, 2, 9, 10)]),
}


def _program_file(tmp_path, module, shapes, name="m", dtypes=None):
    torch.manual_seed(1)
    dtypes = dtypes or [torch.float32] * len(shapes)
    args = tuple(
        torch.randn(s).to(d) if d.is_floating_point else torch.randint(0, 2, s).to(d)
        for s, d in zip(shapes, dtypes, strict=True)
    )
    return _save_pt2(_seeded(module), args, tmp_path / f"{name}.pt2")


def _written_directly(path):
    source, steps, notes = _open(path)
    assert steps == [f"exporting {path.name} to ONNX with the direct exporter"], steps
    assert notes == []
    _assert_same_numbers(source)
    return [ir.op_label(n) for n in source.graph.nodes]


def test_a_program_with_kept_ops_in_place_writes_and_a_dict_of_outputs(tmp_path):
    path = _save_pt2(_Heads(), (torch.randn(1, 3, 8, 8),), tmp_path / "heads.pt2")
    labels = _written_directly(path)
    for kept in ("HardTanh", "HardSwish"):  # ReLU6(inplace=True) is aten.hardtanh_
        assert f"ai.bridgec::{kept}" in labels
    source, _, _ = _open(path)
    by_dynamo, _, _ = _open(path, exporter="dynamo")  # the same interface as dynamo's
    for side in (source, by_dynamo):
        assert [t.name for t in side.graph.outputs] == ["tokens", "pooled"]
    assert [(t.name, t.shape) for t in by_dynamo.graph.inputs] == [
        (t.name, t.shape) for t in source.graph.inputs
    ]


@pytest.mark.parametrize("case", sorted(_CASES))
def test_each_translation_matches_pytorch(tmp_path, case):
    make, shapes = _CASES[case]
    labels = _written_directly(_program_file(tmp_path, make(), shapes, case))
    if case == "conv_bn_relu":  # the TorchScript exporter's fold of a batch norm into its conv
        assert labels.count("Conv") == 1 and "BatchNormalization" not in labels
    if case == "conv_two_readers":  # nothing folded where the conv's output is read twice
        assert labels.count("BatchNormalization") == 2
    if case == "linear":
        assert "Gemm" in labels and "MatMul" in labels


def test_attention_is_one_node_per_call_with_its_mask_kind(tmp_path):
    shapes = [(1, 2, 5, 4), (1, 2, 5, 4), (1, 2, 5, 4), (1, 1, 5, 5), (1, 2, 5, 5)]
    dtypes = [torch.float32] * 3 + [torch.bool, torch.float32]
    path = _program_file(tmp_path, _Attention(), shapes, "attn", dtypes)
    source, steps, _ = _open(path)
    assert steps == ["exporting attn.pt2 to ONNX with the direct exporter"]
    nodes = [n for n in source.graph.nodes if n.op == "ScaledDotProductAttention"]
    masks = [n.attrs["mask"] for n in nodes]
    assert [m.decode() if isinstance(m, bytes) else m for m in masks] == [
        "none",
        "boolean",
        "additive",
        "causal",
    ]
    assert nodes[2].attrs["scale"] == pytest.approx(0.3)
    assert nodes[0].attrs["scale"] == pytest.approx(0.5)  # 1 / sqrt(4)
    _assert_same_numbers(source)


@pytest.mark.parametrize(
    ("act", "op"), _KEPT, ids=[f"{type(a).__name__}-{i}" for i, (a, _) in enumerate(_KEPT)]
)
def test_kept_ops_become_their_bridgec_node(tmp_path, act, op):
    labels = _written_directly(_program_file(tmp_path, _Kept(act), [(1, 2, 3, 3)], "kept"))
    assert f"ai.bridgec::{op}" in labels


class _WritesASharedTensor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        a = self.conv(x)
        b = a * 2
        a.relu_()  # b was read before the write, the sum after it
        return a + b


class _Cumulative(nn.Module):
    def forward(self, x):
        return x.cumsum(1) * 2


@pytest.mark.parametrize(
    ("module", "why"),
    [
        (_WritesASharedTensor(), "writes into a tensor read elsewhere"),
        (_Cumulative(), "it calls cumsum.default"),
    ],
    ids=["shared-write", "unknown-op"],
)
def test_what_it_refuses_goes_to_the_trace_in_one_progress_line(tmp_path, module, why):
    path = _program_file(tmp_path, module, [(1, 2, 3, 3)], "r")
    program = torch.export.load(path)
    assert why in pt2_direct.refusal(program)
    source, steps, notes = _open(path)
    assert steps == ["exporting r.pt2 to ONNX with the torchscript exporter"]
    assert notes == []
    _assert_same_numbers(source)


def test_a_refusal_met_while_writing_falls_back_with_its_reason(tmp_path, monkeypatch):
    def refuse(w, node, a):
        raise pt2_direct.Refused("a relu it cannot write")

    monkeypatch.setitem(pt2_direct.translations(), "aten.relu.default", refuse)
    path = _program_file(tmp_path, _Elementwise(), [(2, 3), (2, 3)], "e")
    source, steps, notes = _open(path)
    assert steps == [
        "exporting e.pt2 to ONNX with the direct exporter",
        "exporting e.pt2 to ONNX with the torchscript exporter (the direct exporter did not take it: "
        "a relu it cannot write)",
    ]
    assert notes == []
    _assert_same_numbers(source)


# --- TorchScript modules (torchscript_direct): the same writer from a lowered TorchScript graph -----


def _traced_file(tmp_path, module, shapes, name="t"):
    torch.manual_seed(1)
    args = tuple(torch.randn(s) for s in shapes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(_seeded(module), args, check_trace=False)
    path = tmp_path / f"{name}.pt"
    torch.jit.save(traced, path)
    return path, {n: s for n, s in zip(forward_input_names(traced), shapes, strict=True)}


@pytest.mark.parametrize("case", ["conv_bn_relu", "conv_two_readers", "elementwise", "linear", "pools"])
def test_a_traced_module_is_written_directly(tmp_path, case):
    make, shapes = _CASES[case]
    path, given = _traced_file(tmp_path, make(), shapes, case)
    source, steps, notes = _open(path, given)
    assert steps == [f"exporting {case}.pt to ONNX with the direct exporter"], steps
    assert notes == []
    labels = [ir.op_label(n) for n in source.graph.nodes]
    if case == "conv_bn_relu":  # aten::_convolution with its batch norm folded in
        assert labels.count("Conv") == 1 and "BatchNormalization" not in labels
    _assert_same_numbers(source)


@pytest.mark.parametrize(("act", "op"), _KEPT[:4], ids=[type(a).__name__ for a, _ in _KEPT[:4]])
def test_a_traced_module_keeps_its_kept_ops(tmp_path, act, op):
    path, given = _traced_file(tmp_path, _Kept(act), [(1, 2, 3, 3)])
    source, steps, _ = _open(path, given)
    assert steps == ["exporting t.pt to ONNX with the direct exporter"]
    assert f"ai.bridgec::{op}" in [ir.op_label(n) for n in source.graph.nodes]
    _assert_same_numbers(source)


class _Sized(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1) * 2  # a traced size: aten::size, prim::NumToTensor, ...


@pytest.mark.parametrize(
    ("module", "why"),
    [(_Sized(), "it calls aten::size"), (_WritesASharedTensor(), "read elsewhere")],
    ids=["size-arithmetic", "shared-write"],
)
def test_a_traced_module_the_writer_refuses_goes_to_torchscripts_exporter(tmp_path, module, why):
    path, given = _traced_file(tmp_path, module, [(1, 2, 3, 3)])
    source, steps, notes = _open(path, given)
    assert steps[0] == "exporting t.pt to ONNX with the direct exporter"
    assert steps[1].startswith(
        "exporting t.pt to ONNX with the torchscript exporter (the direct exporter did not take it: "
    )
    assert why in steps[1]
    assert len(steps) == 2 and notes == []
    _assert_same_numbers(source)
