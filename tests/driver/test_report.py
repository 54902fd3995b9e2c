"""The per-model op report: statuses, every output format, the JSON schema, `bridgec report`, verify's report."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import onnx
import pytest

from bridgec.driver import analysis, report_schema
from bridgec.driver.cli import main

# One op of each kind on iOS13: Conv native (constant weights), HardSwish lowered, exact Gelu a custom
# layer with kernels (iOS14 has a layer for it), Erf native (the erf layer), Dropout removed, Round a
# custom layer without a kernel.
MODEL = """
<ir_version: 9, opset_import: ["" : 20]>
g (float[1,2,4,4] x) => (float[1,2,4,4] y)
<float[2,2,1,1] w = {1.0, 0.0, 0.0, 1.0}>
{
  c = Conv (x, w)
  h = HardSwish (c)
  g = Gelu (h)
  e = Erf (g)
  d = Dropout (e)
  y = Round (d)
}
"""


def _save(tmp_path, text=MODEL, name="model.onnx"):
    path = tmp_path / name
    onnx.save(onnx.parser.parse_model(text), path)
    return path


@pytest.fixture
def mixed(tmp_path):
    return _save(tmp_path)


@pytest.fixture
def convertible(tmp_path):
    return _save(
        tmp_path, MODEL.replace("y = Round (d)", "y = Relu (d)").replace("Erf", "Sigmoid"), "ok.onnx"
    )


def _rows(report):
    return {row.op.split("::")[-1]: row for row in report.rows}


def test_statuses_come_from_the_passes(mixed):
    report = analysis.analyze(mixed, pipeline="lower-custom", target="iOS13")
    rows = _rows(report)
    assert rows["Conv"].status == "native" and rows["Conv"].how == "convolution"
    assert rows["HardSwish"].status == "lowered" and "hardswish_to_hardsigmoid" in rows["HardSwish"].how
    assert rows["Gelu"].status == "custom" and rows["Gelu"].kernel == "CPU+GPU"
    assert rows["Erf"].status == "native" and rows["Erf"].how == "erf"  # ONNX Erf: Core ML's erf layer
    assert rows["Dropout"].status == "removed"
    assert rows["Round"].status == "custom" and rows["Round"].kernel == "none"
    assert rows["Conv"].nodes and all(r.count == len(r.nodes) for r in report.rows)
    assert not report.possible
    assert "not possible (1 custom without kernel)" in report.summary
    assert report.summary.startswith("6 nodes: 2 native, 1 lowered, 2 custom, 1 removed")


def test_unconvertible_under_lower_lists_the_unsupported_rows(mixed, capsys):
    code = main(["report", str(mixed), "-O", "lower", "--target", "iOS14", "-q"])
    out = capsys.readouterr().out
    assert code == 1
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith("-")}
    assert "unsupported" in lines["Round"] and "no Core ML layer for this op" in lines["Round"]
    assert "native" in lines["ai.bridgec::Erf"]
    assert "native" in lines["Conv"] and "native" in lines["ai.bridgec::Gelu"]
    assert "not possible (1 unsupported)" in out


def test_report_of_a_convertible_model_exits_0_and_writes_every_format(convertible, tmp_path, capsys):
    for suffix, fmt in ((".md", "markdown"), (".json", "json"), (".html", "html")):
        out = tmp_path / f"report{suffix}"
        assert main(["report", str(convertible), "-q", "--report-out", str(out)]) == 0
        text = out.read_text()
        printed = capsys.readouterr().out
        assert "possible, -O lower-custom" in printed
        if fmt == "json":
            data = json.loads(text)
            assert report_schema.validate(data) == []
            assert data["possible"] is True and data["verification"] is None
        elif fmt == "markdown":
            assert text.startswith("# bridgec op report") and "| `Conv` | 1 | native |" in text
        else:
            _check_html(text)
    plain = tmp_path / "report.txt"
    assert (
        main(["report", str(convertible), "-q", "--report-out", str(plain), "--report-format", "table"]) == 0
    )
    assert plain.read_text().splitlines()[0].split() == ["op", "count", "status", "how"]


def _check_html(text):
    """Self-contained: no external resource, and the tags balance."""

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.external = [], []

        def handle_starttag(self, tag, attrs):
            # a "#..." reference stays inside the page (the graph's overview reuses its drawing)
            self.external += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#")]
            if tag not in ("meta", "br"):
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    checker = Checker()
    checker.feed(text)
    assert checker.stack == [] and checker.external == []
    assert "<table>" in text and "Conv" in text


def test_schema_validation_catches_broken_reports(convertible):
    data = analysis.analyze(convertible).to_dict()
    assert report_schema.validate(data) == []
    broken = json.loads(json.dumps(data))
    broken["rows"][0]["status"] = "magic"
    del broken["counts"]["native"]
    broken["extra"] = 1
    problems = report_schema.validate(broken)
    assert any("$.rows[0].status" in p for p in problems)
    assert any("missing 'native'" in p for p in problems)
    assert any("unexpected 'extra'" in p for p in problems)
    assert report_schema.validate({**data, "possible": "yes"}) == ["$.possible: expected boolean, got str"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--report-out", "r.pdf"], "cannot tell the format from the suffix"),
        (["--report-out", "r.json", "--report-format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_bad_report_out_is_a_usage_error(args, message, convertible, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (["report"], ["verify"], []):
        code = main([*command, str(convertible), "-q", *args])
        err = capsys.readouterr().err
        assert code == 2, (command, err)
        assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "ok.mlmodel").exists()


def test_report_usage_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.onnx"), "-O", "fast"]) == 2


def test_convert_writes_the_report_it_prints(convertible, tmp_path, capsys):
    out = tmp_path / "r.md"
    code = main([str(convertible), "-o", str(tmp_path / "m.mlmodel"), "--report-out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    summary = [line for line in printed.splitlines() if line.startswith("6 nodes:")][0]
    assert f"**{summary}**" in out.read_text()


def test_verify_adds_its_result_to_the_report(convertible, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["verify", str(convertible), "-q", "--report-out", str(out)])
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert report_schema.validate(data) == []
    verification = data["verification"]
    assert verification["passed"] is True and verification["reference"] == "onnx_before"
    runtimes = {c["runtime"] for c in verification["comparisons"]}
    assert "coreml_reference" in runtimes and all(c["passed"] for c in verification["comparisons"])
    html = tmp_path / "r.html"
    assert main(["verify", str(convertible), "-q", "--report-out", str(html)]) == 0
    assert "verified: all" in html.read_text()


def test_a_lowered_row_says_why_the_target_refused_it():
    from bridgec.driver.report import Row

    rank6 = "a rank-6 tensor ('{}'); Core ML tensors have rank <= 5: reshape the model to merge axes"
    row = Row(
        "Reshape",
        3,
        "lowered",
        "lower::rank/merge_view_axes -> Reshape, Transpose",
        ["a", "b", "c"],
        because={"a": rank6.format("t1"), "b": rank6.format("t2"), "c": "another reason"},
    )
    target = "Core ML ML Program for iOS15"
    assert row.explained(target) == (
        "lower::rank/merge_view_axes -> Reshape, Transpose, because Core ML ML Program for iOS15 refuses "
        f"it: {rank6.format('t1')} (+1 other reasons)"  # t1 and t2 name tensors: one reason
    )
    assert Row("Conv", 1, "native", "convolution", ["d"]).explained(target) == "convolution"
