"""One command-line vocabulary: ``bridgec convert`` is the default command spelled out, an option means
the same on every command, every result is available as one JSON object (``--json``), the old
spellings still work with one note, and docs/cli.md lists exactly the options the parsers have."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridgec.driver.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    """A one-Relu ONNX model in the test's own folder, which is the working directory."""
    import onnx

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.onnx"
    onnx.save(onnx.parser.parse_model(TINY), str(path))
    return path


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(args: list[str], capsys) -> tuple[int, dict, str]:
    """A --json run: stdout must be exactly one JSON object (json.loads refuses anything around it)."""
    code, out, err = run([*args, "--json"], capsys)
    return code, json.loads(out), err


def assert_documented(command: str, got: dict) -> None:
    """Every key of the command's --json object is named in its row of docs/cli.md's --json table."""
    row = next(
        line
        for line in (ROOT / "docs" / "cli.md").read_text().splitlines()
        if line.startswith(f"| `{command}` |")
    )
    missing = [key for key in got if key not in ("bridgec_version", "command") and f"`{key}`" not in row]
    assert missing == [], f"docs/cli.md's --json row of {command} does not name {missing}"


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- bridgec convert is bridgec --------------------------------------------------------------------


def test_convert_subcommand_is_the_default_command(tiny, tmp_path, capsys):
    code_a, out_a, err_a = run([str(tiny), "-o", "a/tiny.mlpackage"], capsys)
    code_b, out_b, err_b = run(["convert", str(tiny), "-o", "b/tiny.mlpackage"], capsys)
    assert code_a == code_b == 0, err_a + err_b
    assert out_a.replace("a/tiny", "b/tiny") == out_b and err_a == err_b == ""
    written_a, written_b = files_under(tmp_path / "a"), files_under(tmp_path / "b")
    assert sorted(written_a) == sorted(written_b) and "tiny.mlpackage/Manifest.json" in written_a
    spec = "tiny.mlpackage/Data/com.apple.CoreML/model.mlmodel"
    assert written_a[spec] == written_b[spec]  # the same model, byte for byte


def test_a_model_named_like_a_command_is_reachable(tiny, tmp_path, capsys):
    shutil.copy(tiny, tmp_path / "convert")
    shutil.copy(tiny, tmp_path / "report")
    assert run(["convert", "convert", "-o", "one.mlmodel", "-q", "--no-check"], capsys)[0] == 0
    assert run(["./report", "-o", "two.mlmodel", "-q", "--no-check"], capsys)[0] == 0
    assert (tmp_path / "one.mlmodel").stat().st_size > 0 and (tmp_path / "two.mlmodel").stat().st_size > 0
    # the bare name is the command; its usage error says how to reach the file
    code, _, err = run(["report"], capsys)
    assert code == 2 and "to convert the file report, write bridgec ./report" in err
    # the hint is only for a command line that does not parse, not for a model that is missing
    code, _, err = run(["report", "missing.onnx"], capsys)
    assert code == 2 and "missing.onnx" in err and "./report" not in err


def test_help_lists_every_command(capsys):
    from bridgec.driver.cli_vocabulary import COMMANDS

    code, out, _ = run(["--help"], capsys)
    assert code == 0
    listed = [line.split()[0] for line in out.split("commands:\n")[1].split("\n\n")[0].splitlines()]
    assert listed == list(COMMANDS) == ["convert", "verify", "report", "coverage", "targets", "passes"]
    with pytest.raises(SystemExit) as done:
        main(["convert", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith("usage: bridgec convert") and "-O PIPELINE" in out


# --- --json -------------------------------------------------------------------------------------


def test_convert_json_holds_the_conversion(tiny, tmp_path, capsys):
    code, got, err = run_json(["convert", str(tiny), "-o", "out.mlmodel"], capsys)
    assert code == 0 and err == ""
    assert got["bridgec_version"] and got["command"] == "convert"
    assert (
        got["source"] == str(tiny) and got["model"] == "out.mlmodel" and (tmp_path / "out.mlmodel").is_file()
    )
    assert got["format"] == "neuralnetwork" and "out.mlmodel" in got["format_reason"]
    assert got["target"] == "iOS15" and got["pipeline"] == "lower-custom" and got["kernels"] is None
    check = got["check"]
    assert check["status"] == "checked" and check["reference"] == "onnxruntime" and check["tolerance"] == 1e-4
    assert [(o["name"], o["max_rel"]) for o in check["outputs"]] == [("y", 0.0)]  # relu is exact
    assert check["line"].startswith("checked: 1 output")
    rows = got["report"]["rows"]
    assert [(r["op"], r["status"]) for r in rows] == [("Relu", "native")]
    assert_documented("convert", got)


def test_convert_json_names_the_kernels(faceseg_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = str(faceseg_path)
    args = ["convert", model, "-i", "x:1x3x256x256", "-O", "custom", "-o", "fs.mlmodel", "--no-check"]
    code, got, err = run_json(args, capsys)
    assert code == 0
    kernels = tmp_path / got["kernels"]["dir"]
    on_disk = {p.name for p in kernels.rglob("*") if p.is_file()}
    assert kernels.is_dir() and got["kernels"]["files"] and set(got["kernels"]["files"]) <= on_disk
    assert any(name.startswith("HardTanh") for name in got["kernels"]["files"])
    assert not got["custom_layers_without_kernel"]
    # unchecked: JSON says so, and stderr too (stdout holds only the object)
    assert got["check"]["status"] == "not checked" and "NOT checked" in err


def test_report_json(tiny, capsys):
    # --stats prints a table: with --json it goes to stderr, and stdout stays one object
    code, got, err = run_json(["report", str(tiny), "--target", "iOS13", "--stats"], capsys)
    assert "cleanup::fold_constants" in err
    assert code == 0 and got["command"] == "report" and got["model"] == str(tiny) and got["possible"] is True
    assert got["report"]["target"] == "Core ML NeuralNetwork for iOS13"
    assert got["report"]["counts"]["native"] == 1
    assert_documented("report", got)


def test_coverage_json_is_the_coverage_table(capsys):
    from bridgec.driver.cli_json import plain
    from bridgec.driver.coverage import classify

    code, got, _ = run_json(["coverage", "--format", "mlprogram", "--target", "iOS16"], capsys)
    assert code == 0 and got["command"] == "coverage"
    assert got["format"] == "mlprogram" and got["target"] == "Core ML ML Program for iOS16"
    expected = plain(classify("iOS16", "mlprogram").to_dict())
    assert {k: v for k, v in got.items() if k not in ("bridgec_version", "command")} == expected
    assert sum(got["counts"].values()) == len(got["ops"]) > 100
    assert_documented("coverage", got)


def test_targets_and_passes_json(capsys):
    from bridgec.passes import PIPELINES

    code, got, _ = run_json(["targets"], capsys)
    assert_documented("targets", got)
    ios15 = next(row for row in got["targets"] if "iOS15" in row["names"])
    assert code == 0 and ios15["formats"]["mlprogram"] == "yes (default)"
    assert next(row for row in got["targets"] if "iOS13" in row["names"])["formats"]["mlprogram"].startswith(
        "no:"
    )
    code, got, _ = run_json(["passes"], capsys)
    assert code == 0 and [p["name"] for p in got["pipelines"]] == list(PIPELINES)
    assert_documented("passes", got)
    hardtanh = next(p for p in got["passes"] if p["id"] == "lower::hardtanh")
    assert any("hardtanh(x, 0, inf) -> relu(x)" in rule for rule in hardtanh["rules"])
    # the human listing is the same data
    code, out, _ = run(["passes"], capsys)
    assert "lower::hardtanh" in out and "hardtanh(x, 0, inf) -> relu(x)" in out


def test_a_failed_json_run_prints_only_the_error(tiny, capsys):
    code, out, err = run(["convert", "missing.onnx", "--json"], capsys)
    assert code == 2 and out == "" and err.startswith("bridgec: error: missing.onnx: no such file")


def test_json_is_valid_whatever_the_numbers():
    from bridgec.driver.cli_json import render_json

    got = json.loads(
        render_json(
            "x",
            {
                "nan": float("nan"),
                "inf": np.float32(np.inf),
                "neg": -np.inf,
                "n": np.int64(3),
                "p": Path("a"),
            },
        )
    )
    assert got == {
        "bridgec_version": got["bridgec_version"],
        "command": "x",
        "nan": "nan",
        "inf": "inf",
        "neg": "-inf",
        "n": 3,
        "p": "a",
    }
    assert list(got)[:2] == ["bridgec_version", "command"]
    with pytest.raises(ValueError, match="command"):
        render_json("x", {"command": "y"})


# --- the old spellings --------------------------------------------------------------------------

NOTE = re.compile(r"^bridgec: note: (.+) is deprecated; use (.+)$")


def notes(err: str) -> list[tuple[str, str]]:
    lines = err.strip().splitlines()
    assert all(NOTE.match(line) for line in lines), err  # nothing on stderr but the notes
    return [NOTE.match(line).groups() for line in lines]  # type: ignore[union-attr]


def test_coverage_format_as_table_format(capsys):
    code, out, err = run(["coverage", "--target", "iOS14", "--format", "json"], capsys)
    assert code == 0 and notes(err) == [("coverage --format json", "--report-format json")]
    assert out == run(["coverage", "--target", "iOS14", "--report-format", "json"], capsys)[1]
    assert json.loads(out)["format"] == "neuralnetwork"


def test_coverage_model_format(capsys):
    code, out, err = run(["coverage", "--model-format", "mlprogram", "--report-format", "json"], capsys)
    assert code == 0 and notes(err) == [("coverage --model-format", "--format")]
    assert json.loads(out)["format"] == "mlprogram"
    assert out == run(["coverage", "--format", "mlprogram", "--report-format", "json"], capsys)[1]


@pytest.mark.parametrize("flag", ["-o", "--output"])
def test_coverage_output(flag, tmp_path, capsys):
    # the old -o wrote the table (or --format's format) whatever the name
    code, out, err = run(["coverage", flag, str(tmp_path / "c.md")], capsys)
    assert code == 0 and out == "" and notes(err) == [(f"coverage {flag}", "--report-out")]
    assert (tmp_path / "c.md").read_text() + "\n" == run(["coverage"], capsys)[1]  # print's newline
    # the new one: the format from the suffix
    assert run(["coverage", "--report-out", str(tmp_path / "n.md")], capsys) == (0, "", "")
    markdown = (tmp_path / "n.md").read_text()
    assert markdown.startswith("# ONNX operator coverage") and "| `Relu` |" in markdown
    code, _, err = run(["coverage", "--report-out", str(tmp_path / "c.html")], capsys)
    assert code == 2 and "name a .md or .json file, or add --report-format table|markdown|json" in err


def test_targets_format(capsys):
    code, out, err = run(["targets", "--format", "markdown"], capsys)
    assert code == 0 and notes(err) == [("targets --format markdown", "--report-format markdown")]
    assert (
        out.startswith("| --target |") and out == run(["targets", "--report-format", "markdown"], capsys)[1]
    )
    code, _, err = run(["targets", "--format", "coreai"], capsys)
    assert code == 2 and "--format is the model format" in err


def test_report_print_format(tiny, capsys):
    code, out, err = run(["report", str(tiny), "--report-print-format", "markdown"], capsys)
    assert code == 0 and notes(err) == [
        ("report --report-print-format", "--report-format (without --report-out)")
    ]
    assert out.startswith("# bridgec op report")
    # the same report (whose provenance quotes the command line)
    new = run(["report", str(tiny), "--report-format", "markdown"], capsys)[1]
    assert out.replace("--report-print-format", "--report-format") == new


def test_report_format_without_report_out_is_what_convert_prints(tiny, capsys):
    code, out, _ = run(
        ["convert", str(tiny), "-o", "m.mlmodel", "--no-check", "--report-format", "markdown"], capsys
    )
    assert code == 0 and out.startswith("# bridgec op report") and "| `Relu` | 1 | native |" in out
    # with --report-out it is the file's format, and stdout keeps the table
    code, out, _ = run(
        [
            "convert",
            str(tiny),
            "-o",
            "m.mlmodel",
            "--no-check",
            "--report-out",
            "r.txt",
            "--report-format",
            "json",
        ],
        capsys,
    )
    assert (
        code == 0 and out.startswith("op ") and json.loads(Path("r.txt").read_text())["counts"]["native"] == 1
    )


# --- docs/cli.md ----------------------------------------------------------------------------------


def _all_flags() -> dict[str, set[str]]:
    from bridgec.driver.cli_docs import parsers

    return {
        name: {
            flag
            for action in parser._actions
            for flag in action.option_strings
            if flag not in ("-h", "--help")
        }
        for name, parser in parsers().items()
    }


def test_docs_cli_is_generated_from_the_parsers():
    from bridgec.driver import cli_docs

    text = (ROOT / "docs" / "cli.md").read_text()
    assert cli_docs.replace_block(text, cli_docs.block()) == text, "run python tools/gen_cli_doc.py"


def test_every_flag_is_in_docs_cli_and_every_flag_there_exists():
    text = (ROOT / "docs" / "cli.md").read_text()
    sections = dict(re.findall(r"^### bridgec (\w+)\n(.*?)(?=^### |\Z)", text, re.M | re.S))
    old = text.split("### Old spellings")[1]
    flags = _all_flags()
    for name, parser_flags in flags.items():
        for flag in parser_flags:
            assert f"`{flag}" in sections[name] or f"bridgec {name} {flag}" in old, (name, flag)
    known = set().union(*flags.values(), {"-h", "--help"})
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b", text))
    assert named - known == set()


# options whose --help differs between commands, and why: the meaning is the same, what it applies to is not
WORDED_PER_COMMAND = {
    "--report-out": "coverage's table has no HTML form",
    "--report-format": "verify prints no report, targets writes no file",
    "--format": "coverage reports on one format: no auto",
    "--target": "coverage's default depends on its --format",
}


def test_an_option_on_several_commands_says_the_same_everywhere():
    from bridgec.driver.cli_docs import parsers

    helps: dict[str, set[str]] = {}
    commands: dict[str, set[str]] = {}
    for name, parser in parsers().items():
        for action in parser._actions:
            for flag in action.option_strings:
                if action.help is not argparse.SUPPRESS and flag not in ("-h", "--help"):
                    helps.setdefault(flag, set()).add(action.help)
                    commands.setdefault(flag, set()).add(name)
    shared = {flag for flag, names in commands.items() if len(names) > 1}
    assert {"-q", "--json", "--tolerance", "--load-passes"} <= shared
    differ = {flag for flag in shared if len(helps[flag]) > 1}
    assert differ == set(WORDED_PER_COMMAND), differ


def test_a_reader_that_goes_away_ends_the_run_quietly():
    """`bridgec passes | head`: the reader closes the pipe; bridgec stops with the shell's SIGPIPE
    status and no 'internal error' line."""
    done = subprocess.Popen(
        [sys.executable, "-m", "bridgec", "passes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    done.stdout.close()  # before bridgec writes anything: its first write finds no reader
    err = done.stderr.read()
    assert done.wait() == 141 and err == b""
