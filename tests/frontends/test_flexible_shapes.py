"""Flexible input shapes: ``--input x:1x3x(8..32)x(8..32)`` (ranges) and
``--input x:1x3x8x8,1x3x16x16`` (enumerated) become Core ML flexible shapes, once the model is
converted at the other shapes too and every layer is the same there."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.executor.errors import InputError
from bridgec.core.errors import UsageError
from bridgec.driver.cli import main
from bridgec.frontends.shapes import FlexibleShape, parse_flexible_spec, parse_input_spec
from tests.helpers import assert_matches


class FullyConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.b(nn.functional.hardswish(self.a(x)))


class Flattens(FullyConv):
    def forward(self, x):
        return super().forward(x).reshape(1, -1)  # a shape baked into the graph


def save(module, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module.eval(), torch.randn(1, 3, 8, 8)), str(path))
    return path


def test_parsing():
    assert parse_flexible_spec("x:1x3x(8..32)x16") == (
        "x",
        FlexibleShape(ranges=((1, 1), (3, 3), (8, 32), (16, 16))),
    )
    assert parse_flexible_spec("1x3x8x8,1x3x16x16") == (
        None,
        FlexibleShape(enumerated=((1, 3, 8, 8), (1, 3, 16, 16))),
    )
    assert parse_flexible_spec("x:1x3x8x8") is None and parse_flexible_spec("x:1,3,8,8") is None
    assert parse_input_spec("x:1x3x(8..32)x(9..32)") == ("x", (1, 3, 8, 9))  # the default: lower bounds
    for bad in ("x:1x3x(32..8)x8", "x:1x3x(a..8)x8", "x:1x3x8x8,1x3x8", "x:1x3x8x8,1x3x8x8"):
        with pytest.raises(UsageError, match="malformed --input"):
            parse_input_spec(bad)


@pytest.mark.parametrize(
    "spec, shapes, outside",
    [
        ("x:1x3x8x8,1x3x16x16", [(1, 3, 8, 8), (1, 3, 16, 16)], (1, 3, 12, 12)),
        ("x:1x3x(8..32)x(8..32)", [(1, 3, 8, 8), (1, 3, 12, 20), (1, 3, 32, 32)], (1, 3, 40, 8)),
    ],
)
def test_flexible_model_runs_at_every_shape(tmp_path, capsys, spec, shapes, outside):
    path = save(FullyConv(), tmp_path / "m.pt")
    out = tmp_path / "m.mlmodel"
    assert main([str(path), "-q", "-i", spec, "-o", str(out)]) == 0, capsys.readouterr().err
    module = torch.jit.load(str(path))
    for shape in shapes:
        x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
        got = run_coreml(str(out), {"x": x})["output"]
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        assert_matches(got, want, tolerance=1e-6)
    with pytest.raises(InputError, match="expected shape"):
        run_coreml(str(out), {"x": np.zeros(outside, np.float32)})


def test_shape_dependent_model_is_refused_with_no_output(tmp_path, capsys):
    path = save(Flattens(), tmp_path / "m.pt")
    out = tmp_path / "m.mlmodel"
    assert main([str(path), "-q", "-i", "x:1x3x8x8,1x3x16x16", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert (
        "depends on the input shape: it differs at x:1x3x16x16" in err
        and "convert each shape separately" in err
    )
    assert not out.exists()
