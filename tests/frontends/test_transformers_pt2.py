"""A Hugging Face model from torch.export (issue 17): a tiny ViT converts in both formats and
matches PyTorch when it returns a tuple (its attention masks the softmax with IsNaN: lower::isnan);
returning a ModelOutput, whose class the archive names and bridgec will not import, is one line
that says how to export it instead."""

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
    assert "lower::isnan/isnan_to_not_equal" in {f"{r.pass_id}/{r.rule}" for r in result.context.rewrites}


def test_a_vit_returning_a_model_output_is_one_line_with_the_fix(tmp_path):
    # in a fresh process: this one imported transformers, which registers ModelOutput with torch
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = _vit(tmp_path, return_dict=True)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "bridgec", str(path), "-q", "-o", str(tmp_path / "vit.mlpackage")],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(root)),
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bridgec: error: "), done.stderr
    assert "BaseModelOutputWithPooling" in lines[0] and "config.return_dict=False" in lines[0]
    assert not (tmp_path / "vit.mlpackage").exists()
