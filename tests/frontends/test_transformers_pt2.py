"""A Hugging Face model from torch.export (issue 17): a tiny ViT converts in both formats and
matches PyTorch when it returns a tuple (its attention is one node: lower::attention).
A ModelOutput's named outputs: tests/frontends/test_pt2_outputs.py."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


def _vit(tmp_path, return_dict: bool):
    import torch
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        return_dict=return_dict,
    )
    model = ViTModel(config).eval()
    path = tmp_path / f"vit_{'dict' if return_dict else 'tuple'}.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), str(path))
    return path


@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
def test_a_vit_returning_a_tuple_converts_and_matches(tmp_path, fmt):
    from bridgec.driver.convert import convert

    result = convert(_vit(tmp_path, return_dict=False), format=fmt, write=False, strict=True)
    assert result.check.status == "checked" and result.check.reference == "PyTorch", result.check.line()
    assert len(result.check.outputs) == 2 and all(o.passed for o in result.check.outputs)
    # its attention is one ScaledDotProductAttention node (frontends/attention.py), decomposed here
    # with the mask guard torch's own decomposition wrote as where(isnan(p), 0, p)
    assert "lower::attention/attention_boolean_decomposed" in {
        f"{r.pass_id}/{r.rule}" for r in result.context.rewrites
    }
