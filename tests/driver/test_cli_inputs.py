"""The PyTorch input flags on the command line: one-line errors with the fix, exit 2 for a file
that needs a flag, no output from a failed run; and the forms converting and verifying."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from bridgec.driver.cli import main


class Seg(nn.Module):
    """A segmenter-shaped model: dict output, a kept op."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = nn.functional.hardswish(self.conv(x))
        return {"out": y, "aux": torch.sigmoid(y)}


@pytest.fixture
def files(tmp_path):
    net = Seg().eval()
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    torch.save(net, tmp_path / "whole.pt")  # Seg lives in this test module: importable as tests....
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(net, (torch.randn(1, 3, 8, 8),)), tmp_path / "seg.pt2")
        torch.jit.save(torch.jit.trace(net, torch.randn(1, 3, 8, 8), strict=False), tmp_path / "seg.pt")
    return tmp_path


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "name, extra, message",
    [
        (
            "whole.pt",
            [],
            "a pickled module (torch.save(model)); unpickling runs code from the file, so bridgec needs --trust-pickle",
        ),
        ("weights.pt", [], "a state_dict (weights only, no architecture); pass --arch pkg.module:Class"),
        (
            "weights.pt",
            ["--arch", "nowhere.mod:Net"],
            "--arch nowhere.mod:Net: cannot import Net from nowhere.mod",
        ),
        (
            "seg.pt2",
            ["--exporter", "torchscript"],
            "--exporter torchscript cannot export a torch.export program",
        ),
        ("seg.pt", ["--exporter", "best"], "argument --exporter: invalid choice: 'best'"),
    ],
)
def test_needs_a_flag_is_one_line_exit_2_and_no_output(files, name, extra, message, capsys):
    out = files / "out.mlmodel"
    code, _, err = run([files / name, "-i", "x:1x3x8x8", "-q", "-o", out, *extra], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("bridgec: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "name, extra", [("seg.pt2", []), ("seg.pt", []), ("seg.pt", ["--exporter", "dynamo"])]
)
def test_forms_convert_and_verify(files, name, extra, capsys):
    shape = [] if name.endswith(".pt2") else ["-i", "1x3x8x8"]
    code, out, err = run([files / name, *shape, "-q", "-o", files / "seg.mlmodel", *extra], capsys)
    assert code == 0, err
    assert (files / "seg.mlmodel").exists()
    code, out, err = run(["verify", files / name, *shape, "-q", *extra], capsys)
    assert code == 0, out + err
    assert "all 3 comparisons PASS" in out or "PASS" in out
    assert "out " in out and "aux " in out


def test_trusted_pickle_warns_and_converts(files, capsys):
    code, _, err = run(
        [files / "whole.pt", "-i", "1x3x8x8", "-q", "--trust-pickle", "-o", files / "w.mlmodel"], capsys
    )
    assert code == 0, err
    assert "bridgec: warning: unpickling whole.pt runs code from the file (--trust-pickle)" in err
    assert (files / "w.mlmodel").exists()
