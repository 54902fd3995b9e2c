"""Flexible input shapes: ``--input x:1x3x(8..32)x(8..32)`` (ranges, ``(8..)`` unbounded) and
``--input x:1x3x{8,16}x{8,16}`` or ``x:1x3x8x8,1x3x16x16`` (enumerated) become Core ML flexible
shapes, once the model is converted at the other shapes too and every layer is the same there. The
ML Program side: tests/driver/test_flexible_mlprogram.py."""

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


def test_choices_are_every_combination_and_the_first_is_the_default():
    name, shape = parse_flexible_spec("x:1x3x{8,16}x{8,12,16}")
    assert name == "x" and len(shape.enumerated) == 6
    assert shape.enumerated[:3] == ((1, 3, 8, 8), (1, 3, 8, 12), (1, 3, 8, 16))
    assert shape.default == (1, 3, 8, 8) and shape.corners() == list(shape.enumerated)
    assert parse_input_spec("ids:1x{4,8}:int64") == ("ids", (1, 4))


def test_an_unbounded_range_is_checked_at_twice_its_lower_bound():
    name, shape = parse_flexible_spec("x:1x3x(8..)x(8..32)")
    assert shape.ranges == ((1, 1), (3, 3), (8, None), (8, 32)) and shape.unbounded
    assert shape.corners() == [(1, 3, 8, 8), (1, 3, 16, 32)]
    assert shape.between() == [(1, 3, 13, 21)]


@pytest.mark.parametrize(
    "spec, why",
    [
        ("x:1x3x(0..)x8", "needs 0 < lo <= hi"),
        ("x:1x3x(5..3)x8", "needs 0 < lo <= hi"),
        ("x:1x3x{}x8", "neither a size nor a set of sizes"),
        ("x:1x3x{8,16x8", "neither a size nor a set of sizes"),
        ("x:1x3x{8,16}}x8", "neither a size nor a set of sizes"),
        ("x:1x3x{8,8}x8", "lists a size twice"),
        ("x:1x3x{8,16}x(8..16)", "cannot be mixed"),
        ("x:1x{1,2,3,4}x{1,2,3,4}x{1,2,3,4,5}", "80 shapes, more than 64"),
        ("x:1x3x(8..", "expected NAME:DIMS"),
    ],
)
def test_bad_flexible_specs_are_one_line_and_exit_2(tmp_path, capsys, spec, why):
    path = save(FullyConv(), tmp_path / "m.pt")
    assert main([str(path), "-q", "-i", spec, "-o", str(tmp_path / "m.mlmodel")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and why in err and "malformed --input" in err, err
    assert not (tmp_path / "m.mlmodel").exists()


@pytest.mark.parametrize(
    "spec, shapes, outside",
    [
        ("x:1x3x8x8,1x3x16x16", [(1, 3, 8, 8), (1, 3, 16, 16)], (1, 3, 12, 12)),
        ("x:1x3x{8,16}x{8,16}", [(1, 3, 8, 16), (1, 3, 16, 8)], (1, 3, 12, 12)),
        ("x:1x3x(8..32)x(8..32)", [(1, 3, 8, 8), (1, 3, 12, 20), (1, 3, 32, 32)], (1, 3, 40, 8)),
        ("x:1x3x(8..)x(8..32)", [(1, 3, 8, 8), (1, 3, 100, 20)], (1, 3, 4, 8)),
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


def test_an_unbounded_range_makes_a_neuralnetwork_checked_at_its_stand_in(tmp_path, capsys):
    from bridgec.backends.coreml.executor.model_io import load_spec

    path = save(FullyConv(), tmp_path / "m.pt")
    assert main([str(path), "-i", "x:1x3x(8..)x(8..)"]) == 0  # --format auto: a NeuralNetwork
    out = capsys.readouterr().out.strip().splitlines()
    assert "format: neuralnetwork (an --input range with no upper bound (lo..)" in "\n".join(out)
    assert out[-1].endswith(
        "at 3 shapes (x:1x3x8x8; x:1x3x13x13; x:1x3x16x16); x has no upper bound: run up to "
        "1x3x16x16 (2x the lower bound)"
    ), out[-1]
    sizes = load_spec(str(tmp_path / "m.mlmodel")).description.input[0].type.multiArrayType.shapeRange
    assert [(r.lowerBound, r.upperBound) for r in sizes.sizeRanges] == [(1, 1), (3, 3), (8, -1), (8, -1)]
    args = [
        str(path),
        "-q",
        "-i",
        "x:1x3x(8..)x8",
        "--format",
        "mlprogram",
        "-o",
        str(tmp_path / "u.mlpackage"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no upper bound (lo..) is for NeuralNetwork models only" in err
