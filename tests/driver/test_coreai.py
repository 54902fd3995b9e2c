"""``--format coreai``: torch models to ``.aimodel`` through the CLI, checked in Apple's Core AI
runtime against PyTorch; the bad-input one-liners. Needs coreai-core (``pip install bridgec[coreai]``)
except for the missing-package test."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bridgec.driver.cli import main
from bridgec.driver.convert import convert

ROOT = Path(__file__).resolve().parents[2]
coreai = pytest.importorskip(
    "coreai.authoring", reason="coreai-core is not installed (pip install bridgec[coreai])"
)


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _zoo(name: str, folder: Path) -> Path:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import zoo
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return zoo.save(name, folder / f"{name}.pt")


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18"])
def test_zoo_model_matches_pytorch_in_apples_runtime(name, tmp_path, capsys):
    model = _zoo(name, tmp_path)
    out = tmp_path / f"{name}.aimodel"
    code, stdout, err = run_cli(
        [model, "--format", "coreai", "--target", "iOS27", "--input", "1x3x224x224", "-o", out], capsys
    )
    assert code == 0, err
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("checked: 1 output"), last
    assert "against PyTorch; run in Apple's Core AI runtime" in last
    assert (out / "main.mlirb").is_file() and (out / "metadata.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_integer_bound_hardtanh_converts_and_matches(tmp_path, capsys):
    """What coreai-torch 0.4.3 crashes on (IndexError): nn.Hardtanh(-1, 1) with integer bounds."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Hardtanh(-1, 1)).eval()
    model = tmp_path / "hardtanh.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 3, 8, 8) * 3), str(model))
    code, stdout, err = run_cli(
        [model, "--format", "coreai", "--input", "1x3x8x8", "--report-json", tmp_path / "r.json"], capsys
    )
    assert code == 0, err
    assert "hardtanh_to_max_min" in stdout
    assert stdout.strip().splitlines()[-1].startswith("checked: 1 output")
    assert (tmp_path / "hardtanh.aimodel" / "main.mlirb").is_file()


def test_python_api_format_coreai(tmp_path):
    net = nn.Sequential(nn.Linear(5, 3), nn.Sigmoid()).eval()
    model = tmp_path / "lin.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(2, 5)), str(model))
    result = convert(model, format="coreai", target="macOS27", inputs={None: (2, 5)})
    assert result.check.status == "checked"
    assert result.model_path == tmp_path / "lin.aimodel"


def test_constant_output_is_checked_with_a_warning(tmp_path):
    """As for Core ML (tests/driver/test_check.py): an output PyTorch computes as 0 everywhere."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(256, 3)).eval()
    nn.init.zeros_(net[2].weight)
    nn.init.zeros_(net[2].bias)
    model = tmp_path / "zero.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 3, 8, 8)), str(model))
    result = convert(model, format="coreai", target="macOS27", inputs={None: (1, 3, 8, 8)}, write=False)
    assert result.check.status == "checked"
    assert result.check.line().endswith(
        "; warning: output 'output' is 0 everywhere in PyTorch on the check input, so the comparison cannot "
        "tell a wrong network from a right one for it; pass --check-input NAME=FILE.npy with data the model "
        "is meant for, or convert it with trained weights"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "iOS18"], "--format coreai needs --target iOS27 or macOS27"),
        (["--target", "iOS27", "--compress", "palettize8"], "no compression mode for --format coreai"),
        (["-o", "{tmp}/x.mlpackage"], "a Core AI model is a .aimodel folder"),
        (["--precision", "fp16"], "--format coreai does not support --precision fp16"),
    ],
)
def test_bad_input_is_one_line_and_nothing_written(args, message, tmp_path, capsys):
    net = nn.Sequential(nn.ReLU())
    model = tmp_path / "m.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 3)), str(model))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = run_cli([model, "--format", "coreai", "--input", "1x3", *args], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_missing_coreai_package_is_one_line(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_coreai(name, *args, **kwargs):
        if name == "coreai" or name.startswith("coreai."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_coreai)
    model = tmp_path / "m.pt"
    torch.jit.save(torch.jit.trace(nn.Sequential(nn.ReLU()), torch.randn(1, 3)), str(model))
    code, _, err = run_cli([model, "--format", "coreai", "--input", "1x3"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "pip install bridgec[coreai]" in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_runtime_crash_is_one_line(tmp_path):
    """A corrupted .aimodel aborts Apple's runtime (exit 134): the child's crash is one line here."""
    from bridgec.backends.coreai.run import CoreAIRunError, run_model

    net = nn.Sequential(nn.ReLU())
    model = tmp_path / "m.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 3)), str(model))
    result = convert(model, format="coreai", inputs={None: (1, 3)})
    code = result.model_path / "main.mlirb"
    data = bytearray(code.read_bytes())
    data[len(data) // 2] ^= 0xFF
    data[20] ^= 0xFF
    code.write_bytes(bytes(data))
    with pytest.raises(CoreAIRunError) as error:
        run_model(result.model_path, {"x": np.zeros((1, 3), np.float32)}, timeout=120)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("include_pad", [False, True])
def test_average_pool_count_include_pad_matches(include_pad, tmp_path, capsys):
    """What coreai-torch 0.4.3 writes silently wrong (relative error 0.38): count_include_pad=False."""
    net = nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=include_pad)).eval()
    model = tmp_path / "avg.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 2, 9, 7)), str(model))
    code, stdout, err = run_cli([model, "--format", "coreai", "--input", "1x2x9x7"], capsys)
    assert code == 0, err
    assert stdout.strip().splitlines()[-1].startswith("checked: 1 output")


def test_unfolded_batch_norm_becomes_mul_add(tmp_path, capsys):
    """A BatchNorm no convolution absorbs: lower::batchnorm_affine (Core AI has no batch norm)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)).eval()
    net[1].running_mean.uniform_()
    net[1].running_var.uniform_(0.5, 2)
    model = tmp_path / "bn.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 3, 5, 5)), str(model))
    code, stdout, err = run_cli([model, "--format", "coreai", "--input", "1x3x5x5"], capsys)
    assert code == 0, err
    assert "lower::batchnorm_affine/batchnorm_to_mul_add" in stdout
    assert stdout.strip().splitlines()[-1].startswith("checked: 1 output")
