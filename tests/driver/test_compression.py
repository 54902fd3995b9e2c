"""The compress stage: the uncompressed model is checked, the compressed one's error measured and
reported (judged only against an explicit --tolerance), and the modes a target cannot run refused."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from bridgec.driver import check as check_mod
from bridgec.driver.cli import main
from bridgec.driver.convert import convert
from bridgec.driver.report_schema import validate
from tests.backends.coreml.test_compress import SHAPE, Tiny, X

INPUT = "x:" + "x".join(map(str, SHAPE))


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("compression") / "tiny.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(Tiny().eval(), torch.from_numpy(X)).save(str(path))
    return path


def _convert(path, mode, **options):
    return convert(
        path, inputs={"x": SHAPE}, target="iOS18", format="mlprogram", write=False, compress=mode, **options
    )


def test_error_is_measured_against_pytorch(tiny_path):
    errors = {}
    for mode in ("int8", "palettize8", "palettize2"):
        result = _convert(tiny_path, mode)
        check = result.check
        assert check.status == check_mod.CHECKED and check.max_rel < 1e-4  # the graph: checked uncompressed
        compression = check.compression
        assert compression.mode == mode and [o.name for o in compression.outputs] == ["output"]
        assert result.model.spec is not None and "constexpr_" in str(result.model.op_counts())
        errors[mode] = compression.max_rel
        assert f"compressed {mode}, " in check.line() and "against PyTorch" in check.line()
    assert 0 < errors["int8"] < 0.02 and 0 < errors["palettize8"] < 0.02, errors
    assert errors["palettize2"] > 5 * errors["palettize8"], errors


def test_provenance_and_report(tiny_path, tmp_path):
    report = tmp_path / "report.json"
    result = convert(
        tiny_path,
        inputs={"x": SHAPE},
        format="neuralnetwork",
        compress="palettize4",
        output=tmp_path / "tiny.mlmodel",
        report_json=report,
    )
    assert result.spec.description.metadata.userDefined["bridgec.compress"] == "palettize4"
    data = json.loads(report.read_text())
    assert validate(data) == []
    compression = data["check"]["compression"]
    assert compression["granularity"].startswith("per-tensor") and 0.1 < compression["ratio"] < 0.16
    assert compression["outputs"][0]["max_rel"] > 0 and compression["tolerance"] is None
    error = f"{result.check.compression.outputs[0].max_rel:.3g}"
    markdown, page = result.report.render("markdown"), result.report.render("html")
    assert "| output (compressed) | max abs | max rel vs PyTorch |" in markdown and f"| {error} |" in markdown
    assert "compressed palettize4, per-tensor" in markdown and f'"n">{error}</td>' in page


def test_not_measured_without_the_check(tiny_path):
    check = _convert(tiny_path, "int8", check=False).check
    assert check.compression.outputs == [] and check.compression.reason == "--no-check"
    assert "error not measured (--no-check)" in check.line()


def test_explicit_tolerance_fails_a_lossy_mode_and_writes_nothing(tiny_path, tmp_path, capsys):
    out = tmp_path / "tiny.mlpackage"
    args = [str(tiny_path), "--input", INPUT, "--target", "iOS18", "-o", str(out), "-q"]
    assert main([*args, "--compress", "palettize2", "--tolerance", "1e-2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "compressed palettize2" in err[0] and "--tolerance 1e-2" in err[0], err
    assert not out.exists()
    assert main([*args, "--compress", "int8", "--tolerance", "2e-2"]) == 0 and out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--format", "mlprogram", "--compress", "int8"],
            "--compress int8 in an ML Program needs --target iOS16",
        ),
        (
            ["--target", "iOS17", "--compress", "int4"],
            "--compress int4 in an ML Program needs --target iOS18",
        ),
        (["--format", "neuralnetwork", "--precision", "fp16", "--compress", "int8"], "drop --precision fp16"),
        (["--compress", "int3"], "argument --compress: invalid choice: 'int3'"),
    ],
)
def test_impossible_modes_are_one_line_exit_2(flags, message, tiny_path, tmp_path, capsys):
    out = tmp_path / ("tiny.mlmodel" if "neuralnetwork" in flags else "tiny.mlpackage")
    assert main([str(tiny_path), "--input", INPUT, "-o", str(out), "-q", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_auto_format_refuses_after_choosing_ml_program(tiny_path, capsys):
    # --format auto makes an ML Program at the default target (iOS15), which holds no compressed weights
    assert main([str(tiny_path), "--input", INPUT, "--compress", "palettize8", "-q", "--no-check"]) == 2
    assert "needs --target iOS16" in capsys.readouterr().err
