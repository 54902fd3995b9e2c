"""Attention end to end: ``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention``'s fused
``aten::_native_multi_head_attention`` (what it runs under ``torch.no_grad()``) reach the passes as
one ScaledDotProductAttention node from TorchScript (both exporters) and from torch.export (.pt2);
ML Program at iOS18 keeps it whole (MIL scaled_dot_product_attention), the default target and
NeuralNetwork decompose it by lower::attention. Every conversion's numbers are checked against
PyTorch by the conversion itself (``convert`` raises on a mismatch)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bridgec.core import ir, ops
from bridgec.core.errors import ConversionError
from bridgec.driver.convert import convert
from bridgec.frontends import LoadOptions
from tests.helpers import assert_matches

OP = "ScaledDotProductAttention"
# (format, target): the default target decomposes, iOS18's ML Program keeps the op
TARGETS = [("mlprogram", None), ("mlprogram", "iOS18"), ("neuralnetwork", None)]
# (file suffix, exporter): a TorchScript archive by either exporter, a torch.export archive
SOURCES = [(".pt", "torchscript"), (".pt", "dynamo"), (".pt2", "dynamo")]


def _qkv(x: torch.Tensor, proj: torch.nn.Linear, heads: int):
    n, length, _ = x.shape
    q, k, v = proj(x).reshape(n, length, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    return q, k, v


class Attention(torch.nn.Module):
    """x -> q, k, v of 2 heads of 8 -> F.scaled_dot_product_attention(**kwargs)."""

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(16, 48)
        self.kwargs = kwargs

    def forward(self, x):
        return F.scaled_dot_product_attention(*_qkv(x, self.proj, 2), **self.kwargs)


_g = torch.Generator().manual_seed(3)
VARIANTS = {
    "plain": {},
    "causal_scaled": {"is_causal": True, "scale": 0.4},
    "bool_mask": {"attn_mask": torch.rand(6, 6, generator=_g) > 0.3},
    "float_mask": {"attn_mask": torch.randn(1, 2, 6, 6, generator=_g), "scale": 0.2},
    # query 0 sees no key: torch gives zeros there (its _safe_softmax), a plain softmax NaN
    "mask_hiding_a_query": {
        "attn_mask": torch.rand(6, 6, generator=_g).index_fill(0, torch.tensor([0]), 0) > 0.3
    },
}
X = torch.randn(1, 6, 16, generator=_g)


def _save(module: torch.nn.Module, args: tuple, path, grad: bool = True) -> None:
    module.eval()
    with warnings.catch_warnings(), torch.set_grad_enabled(grad):
        warnings.simplefilter("ignore")
        if path.suffix == ".pt2":
            torch.export.save(torch.export.export(module, args), path)
        else:
            torch.jit.trace(module, args, check_trace=False).save(path)


def _convert(path, inputs, exporter, fmt, target):
    return convert(
        path, inputs=inputs, format=fmt, target=target, write=False, frontend=LoadOptions(exporter=exporter)
    )


def _assert_one_node_made(result, fmt: str, target: str | None, count: int = 1) -> None:
    kept = [n for n in result.graph.nodes if ir.op_key(n) == (ir.BRIDGEC_DOMAIN, OP)]
    hits = sum(v for k, v in result.context.rule_hits.items() if k.startswith("lower::attention/"))
    if (fmt, target) == ("mlprogram", "iOS18"):
        assert (len(kept), hits) == (count, 0)
    else:
        assert (len(kept), hits) == (0, count)
    assert result.check.status == "checked"


def test_the_reference_is_torchs():
    """The declaration's numpy reference and its ONNX functions (onnxruntime) compute what torch's
    F.scaled_dot_product_attention does, for every mask kind."""
    from tests.helpers import run_graph
    from tests.passes.lower.test_lower_attention import feeds, graph_from_text, text

    decl = ops.get(OP)
    for mask in ("none", "causal", "boolean", "additive"):
        given = feeds(mask)
        t = {k: torch.from_numpy(v) for k, v in given.items()}
        want = F.scaled_dot_product_attention(
            t["q"], t["k"], t["v"], attn_mask=t.get("m"), is_causal=mask == "causal", scale=0.3
        )
        assert_matches(decl.numpy(*given.values(), scale=0.3, mask=mask), want, tolerance=1e-6, what=mask)
        for opset in (17, 18):
            graph = graph_from_text(text(mask).replace('"" : 17', f'"" : {opset}'))
            assert_matches(run_graph(graph, given)[0], want, tolerance=1e-6, what=f"{mask} at opset {opset}")


@pytest.mark.parametrize(("fmt", "target"), TARGETS)
@pytest.mark.parametrize(("suffix", "exporter"), SOURCES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_scaled_dot_product_attention_is_one_node(variant, suffix, exporter, fmt, target, tmp_path):
    path = tmp_path / f"sdpa{suffix}"
    _save(Attention(**VARIANTS[variant]), (X,), path)
    _assert_one_node_made(_convert(path, {"x": tuple(X.shape)}, exporter, fmt, target), fmt, target)


@pytest.mark.parametrize(("fmt", "target"), TARGETS)
@pytest.mark.parametrize("suffix", [".pt", ".pt2"])
def test_a_mask_given_at_run_time(suffix, fmt, target, tmp_path):
    """A bool mask input (a padding mask) that hides every key from some queries."""

    class Masked(Attention):
        def forward(self, x, mask):
            return F.scaled_dot_product_attention(*_qkv(x, self.proj, 2), attn_mask=mask)

    mask = torch.rand(1, 1, 6, 6, generator=_g) > 0.3
    mask[..., :2, :] = False
    path = tmp_path / f"masked{suffix}"
    _save(Masked(), (X, mask), path)
    inputs = {"x": tuple(X.shape), "mask": (tuple(mask.shape), "bool")}
    result = convert(
        path,
        inputs=inputs,
        format=fmt,
        target=target,
        write=False,
        check_inputs={"x": X.numpy(), "mask": mask.numpy()},
    )
    _assert_one_node_made(result, fmt, target)


@pytest.mark.parametrize(("fmt", "target"), [("mlprogram", "iOS18"), ("neuralnetwork", None)])
def test_grouped_query_attention_repeats_the_key_heads(fmt, target, tmp_path):
    class Grouped(torch.nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)

    shapes = {"q": (1, 4, 5, 8), "k": (1, 2, 5, 8), "v": (1, 2, 5, 8)}
    args = tuple(torch.randn(s, generator=_g) for s in shapes.values())
    for suffix, exporter in ((".pt", "torchscript"), (".pt2", "dynamo")):
        path = tmp_path / f"gqa{suffix}"
        _save(Grouped(), args, path)
        _assert_one_node_made(_convert(path, shapes, exporter, fmt, target), fmt, target)


class SelfAttention(torch.nn.Module):
    """nn.MultiheadAttention on x; with ``weights`` it returns the averaged attention weights too."""

    def __init__(self, weights: bool) -> None:
        super().__init__()
        self.attention = torch.nn.MultiheadAttention(16, 2, batch_first=True)
        self.weights = weights

    def forward(self, x):
        out, weights = self.attention(x, x, x, need_weights=self.weights)
        return (out, weights) if self.weights else out


@pytest.mark.parametrize(("fmt", "target"), TARGETS)
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("weights", [False, True], ids=["out", "out_and_weights"])
def test_fused_multi_head_attention_under_no_grad(weights, exporter, fmt, target, tmp_path):
    path = tmp_path / "mha.pt"
    _save(SelfAttention(weights), (X,), path, grad=False)
    assert "aten::_native_multi_head_attention" in {
        n.kind() for n in torch.jit.load(path).inlined_graph.nodes()
    }
    result = _convert(path, {"x": tuple(X.shape)}, exporter, fmt, target)
    _assert_one_node_made(result, fmt, target)
    assert len(result.check.outputs) == (2 if weights else 1)


@pytest.mark.parametrize(("fmt", "target"), [("mlprogram", "iOS18"), ("neuralnetwork", None)])
def test_multi_head_attention_from_torch_export(fmt, target, tmp_path):
    """torch.export writes nn.MultiheadAttention (need_weights=False) as scaled_dot_product_attention."""
    path = tmp_path / "mha.pt2"
    _save(SelfAttention(False), (X,), path, grad=False)
    _assert_one_node_made(_convert(path, {"x": tuple(X.shape)}, "dynamo", fmt, target), fmt, target)


@pytest.mark.parametrize(("suffix", "exporter"), SOURCES)
def test_dropout_is_refused_in_one_line(suffix, exporter, tmp_path):
    path = tmp_path / f"dropout{suffix}"
    _save(Attention(dropout_p=0.1), (X,), path)
    with pytest.raises(
        ConversionError, match=r"^aten::scaled_dot_product_attention with dropout_p=0\.1 is random"
    ) as e:
        _convert(path, {"x": tuple(X.shape)}, exporter, "mlprogram", None)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_a_fused_mask_is_refused_in_one_line(exporter, tmp_path):
    class Padded(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = torch.nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x, pad):
            return self.attention(x, x, x, key_padding_mask=pad, need_weights=False)[0]

    path = tmp_path / "padded.pt"
    _save(Padded(), (X, torch.zeros(1, 6, dtype=torch.bool)), path, grad=False)
    inputs = {"x": tuple(X.shape), "pad": ((1, 6), "bool")}
    with pytest.raises(ConversionError, match=r"^aten::_native_multi_head_attention with a mask: ") as e:
        _convert(path, inputs, exporter, "mlprogram", None)
    assert "\n" not in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_torchvision_vit_b_16_traced_with_and_without_no_grad(grad, tmp_path):
    """ML Program at iOS18 (the attention op whole). Under no_grad the trace holds
    aten::_native_multi_head_attention, with autograd aten::scaled_dot_product_attention."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)  # zero at init: every output would be 0
    x = torch.randn(1, 3, 224, 224)
    path = tmp_path / "vit_b_16.pt"
    _save(model, (x,), path, grad=grad)
    fused = "aten::_native_multi_head_attention" in {
        n.kind() for n in torch.jit.load(path).inlined_graph.nodes()
    }
    assert fused == (not grad)
    result = convert(path, inputs={"x": (1, 3, 224, 224)}, format="mlprogram", target="iOS18", write=False)
    _assert_one_node_made(result, "mlprogram", "iOS18", count=12)
    assert np.isfinite(result.check.max_rel)
