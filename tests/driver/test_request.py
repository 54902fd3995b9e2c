"""The driver's one request object: the Python API and the command line build a ConversionRequest,
``validate`` refuses a bad one before anything is loaded, and the write stage writes every output
of the request at once."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from bridgec.core.errors import UsageError
from bridgec.driver.convert import convert, run
from bridgec.driver.pipeline import RunOptions
from bridgec.driver.request import CheckOptions, ConversionRequest, Outputs, validate

RELU = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'


@pytest.fixture
def relu(tmp_path) -> Path:
    path = tmp_path / "m.onnx"
    onnx.save(onnx.parser.parse_model(RELU), str(path))
    return path


def test_convert_keywords_build_the_nested_request():
    request = ConversionRequest.of(
        "m.onnx", check=False, tolerance=1e-3, output="o.mlmodel", write=False, options=None, pipeline="none"
    )
    assert request.model == Path("m.onnx") and request.pipeline == "none"
    assert request.check == CheckOptions(enabled=False, tolerance=1e-3)
    assert request.outputs == Outputs(model=Path("o.mlmodel"), write=False)
    assert request.passes == RunOptions()
    with pytest.raises(TypeError):
        ConversionRequest.of("m.onnx", no_such_option=1)


def test_a_request_is_validated_before_the_model_is_read(tmp_path):
    """The model does not exist: the request's own contradiction is what is reported."""
    missing = tmp_path / "missing.onnx"
    request = ConversionRequest(missing, check=CheckOptions(enabled=False, strict=True))
    with pytest.raises(UsageError, match="--strict asks for a checked model and --no-check for none"):
        validate(request)
    with pytest.raises(UsageError, match="unknown pipeline -O 'fast'"):
        run(ConversionRequest(missing, pipeline="fast"))
    # a request made for a graph already in memory (model=None) is no conversion
    with pytest.raises(UsageError, match="a conversion needs a model file"):
        run(ConversionRequest.of(None, pipeline="none"))


def test_convert_takes_a_request_and_no_keywords_beside_it(relu):
    request = ConversionRequest(relu, outputs=Outputs(write=False))
    with pytest.raises(TypeError, match="the request holds every option"):
        convert(request, precision="fp16")
    result = convert(request)
    assert result.request is request and result.model_path is None
    assert result.check.status == "checked" and result.report.check is result.check
    assert not any(p.name != "m.onnx" for p in relu.parent.iterdir())  # write=False: nothing written


def test_the_write_stage_writes_the_model_and_both_reports(relu):
    folder = relu.parent
    request = ConversionRequest(
        relu,
        outputs=Outputs(report=folder / "r.md", report_json=folder / "r.json"),
    )
    result = run(request)
    assert (
        result.model_path == folder / "m.mlpackage" and (folder / "m.mlpackage" / "Manifest.json").is_file()
    )
    assert (folder / "r.md").read_text() == result.report.render("markdown")
    assert (folder / "r.json").read_text() == result.report.to_json()
    assert "checked: 1 output" in (folder / "r.md").read_text()  # the report carries the check
    assert sorted(p.name for p in folder.iterdir()) == ["m.mlpackage", "m.onnx", "r.json", "r.md"]


def test_a_report_path_that_is_another_output_is_refused_before_loading(relu):
    request = ConversionRequest(
        relu, outputs=Outputs(report=relu.parent / "r.md", report_json=relu.parent / "r.md")
    )
    with pytest.raises(UsageError, match="--report-json .*r.md and --report-out .*r.md are the same path"):
        validate(request)
