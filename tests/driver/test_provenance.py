"""Every report says where it comes from: bridgec version, the command as typed, the input file's
sha256, target, format, precision, pipeline, date (bridgec/driver/provenance.py)."""

from __future__ import annotations

import hashlib
import json
import shlex

import onnx

from bridgec import __version__
from bridgec.driver import analysis, provenance, report_schema
from bridgec.driver.cli import main
from bridgec.driver.request import ConversionRequest

MODEL = """
<ir_version: 9, opset_import: ["" : 20]>
g (float[1,4] x) => (float[1,4] y)
{
  y = Relu (x)
}
"""


def test_the_json_and_markdown_reports_carry_the_command_line_and_the_file_hash(tmp_path):
    model = tmp_path / "my model.onnx"  # a space: the command line is quoted as a shell needs it
    onnx.save(onnx.parser.parse_model(MODEL), model)
    out = tmp_path / "r.json"
    argv = ["report", str(model), "--target", "iOS14", "-q", "--report-out", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert report_schema.validate(data) == []
    found = data["provenance"]
    assert found["command"] == "bridgec " + shlex.join(argv) and shlex.split(found["command"])[2] == str(
        model
    )
    assert found["input"] == str(model)
    assert found["input_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert found["bridgec_version"] == __version__ and found["target"] == data["target"]
    assert found["format"] == "neuralnetwork (--format auto)" and found["pipeline"] == "lower-custom"
    assert "date" not in found  # the same command on the same file writes the same bytes
    markdown = tmp_path / "r.md"
    assert main(["report", str(model), "--format", "neuralnetwork", "-q", "--report-out", str(markdown)]) == 0
    header = markdown.read_text().split("| op |")[0]
    assert f"- input: `{model} (sha256 {found['input_sha256']})`" in header
    assert "- format: `neuralnetwork`" in header and "- precision: `fp32`" in header


def test_a_graph_in_memory_says_so_instead_of_a_hash(tmp_path):
    graph = onnx.parser.parse_model(MODEL)
    import onnx_graphsurgeon as gs

    request = ConversionRequest.of(None, target="iOS15")
    with provenance.invoked("bridgec.convert(Net(), inputs={'x': (1, 4)})", in_memory="Net (an nn.Module)"):
        report = analysis.analyze_graph(gs.import_onnx(graph), request)
    assert report.provenance.command == "bridgec.convert(Net(), inputs={'x': (1, 4)})"
    assert report.provenance.input == "Net (an nn.Module)" and report.provenance.input_sha256 == ""
    outside = analysis.analyze_graph(gs.import_onnx(graph), request).provenance
    assert outside.command.startswith("python ") and outside.command.endswith("(a Python call)")
    assert outside.input == "a graph given in memory (no file)"
