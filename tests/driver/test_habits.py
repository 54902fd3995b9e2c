"""Habits (issue 20, item 5): outputs follow the umask; the stages of verify and report show on a
terminal too (torch's exporter included) and nothing when piped; --timings adds up to the wall time;
counts read as English; escape sequences only on a terminal."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from bridgec.core.words import noun, plural
from tests.conftest import ROOT
from tests.driver.test_progress import _env, _on_a_terminal

HARDSWISH = (
    '<ir_version: 8, opset_import: ["" : 17]> g (float[1,4] x) => (float[1,4] y) { y = HardSwish (x) }'
)
SOURCES = ("bridgec", "frontends", "backends", "passes", "runtime_kernels", "tools")


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx.parser.parse_model(HARDSWISH).SerializeToString())
    return path


# --- outputs follow the umask ---------------------------------------------------------------------

# Every kind of output, written at umask 022 and then 077 in a process of its own (the umask is the
# process's): a model with custom layers (.mlmodel, its kernels folder) and both reports, an ML
# Program package (coremltools makes its parts with tempfile: 0600/0700), verify's saved arrays and
# a coverage table. Prints the mode of everything written, by umask.
_WRITE_ALL = """
import contextlib, io, json, os, sys
from pathlib import Path
from bridgec.driver.cli import main
from bridgec.driver.file_modes import umask

model, root = sys.argv[1], Path(sys.argv[2])
modes = {}
for mask in (0o022, 0o077):
    os.umask(mask)
    assert umask() == mask, (umask(), mask)
    out = root / f"{mask:03o}"
    out.mkdir()
    runs = [
        [model, "-O", "custom", "-o", out / "m.mlmodel", "--report-json", out / "r.json",
         "--report-out", out / "r.md"],
        [model, "-o", out / "m.mlpackage"],
        ["verify", model, "--save-inputs", out / "in.npz", "--save-outputs", out / "out.npz"],
        ["coverage", "--target", "iOS14", "--report-out", out / "coverage.md"],
    ]
    for argv in runs:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main([str(a) for a in argv] + (["-q"] if argv[0] != "coverage" else [])) == 0, argv
    modes[f"{mask:03o}"] = {
        str(p.relative_to(out)): (p.is_dir(), p.lstat().st_mode & 0o777) for p in sorted(out.rglob("*"))
    }
print(json.dumps(modes))
"""


@pytest.mark.slow
def test_every_output_gets_the_modes_the_umask_gives(model, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_ALL, str(model), str(tmp_path)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modes = json.loads(done.stdout.strip().splitlines()[-1])
    for mask, written in modes.items():
        umask = int(mask, 8)
        names = set(written)
        # what the test must have covered: kernels, the package's inner parts, reports, arrays, table
        assert any(name.endswith(".swift") for name in names), names
        assert "m.mlpackage/Data/com.apple.CoreML/model.mlmodel" in names, names
        assert {"r.json", "r.md", "in.npz", "out.npz", "coverage.md", "m.mlmodel"} <= names, names
        wrong = {
            name: oct(mode)
            for name, (is_dir, mode) in written.items()
            if mode != (0o777 if is_dir else 0o666) & ~umask
        }
        assert not wrong, (mask, wrong)


def test_follow_umask_sets_files_and_folders_and_leaves_links(tmp_path):
    from bridgec.driver.file_modes import follow_umask, umask

    top = tmp_path / "pkg"
    (top / "inner").mkdir(parents=True)
    (top / "inner" / "weights.bin").write_bytes(b"w")
    os.chmod(top / "inner" / "weights.bin", 0o600)
    os.chmod(top / "inner", 0o700)
    outside = tmp_path / "outside.txt"
    outside.write_text("not bridgec's")
    os.chmod(outside, 0o600)
    (top / "link").symlink_to(outside)
    follow_umask(top)
    mask = umask()
    assert (top / "inner" / "weights.bin").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (top / "inner").stat().st_mode & 0o777 == 0o777 & ~mask
    assert top.stat().st_mode & 0o777 == 0o777 & ~mask
    assert outside.stat().st_mode & 0o777 == 0o600  # a link is not followed


# --- progress: every command's long stages, torch's exporter included --------------------------------


@pytest.fixture(scope="module")
def torchscript_model(tmp_path_factory) -> Path:
    import torch

    path = tmp_path_factory.mktemp("habits") / "tiny.pt"
    torch.jit.trace(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Hardtanh()), torch.zeros(1, 4)).save(
        str(path)
    )
    return path


@pytest.mark.slow
def test_verify_shows_the_export_as_a_stage_on_a_terminal_and_nothing_piped(torchscript_model):
    args = ["verify", torchscript_model.name, "--input", "1x4"]
    code, stdout, terminal = _on_a_terminal(args, torchscript_model.parent)
    assert code == 0, terminal
    for stage in ("loading tiny.pt", "exporting tiny.pt to ONNX with the", "running PyTorch", "running -O"):
        assert f"\rbridgec: {stage}" in terminal, terminal
    assert terminal.endswith("\r\x1b[K") and "PASS" in stdout, terminal
    piped = subprocess.run(
        [sys.executable, "-m", "bridgec", *args],
        cwd=torchscript_model.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr


@pytest.mark.slow
def test_a_dumb_terminal_gets_plain_stage_lines_and_no_escape_sequence(torchscript_model, monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("NO_COLOR", "1")
    env = {**_env(), "TERM": "dumb", "NO_COLOR": "1"}
    monkeypatch.setattr("tests.driver.test_progress._env", lambda: env)
    code, stdout, terminal = _on_a_terminal(
        ["report", torchscript_model.name, "--input", "1x4"], torchscript_model.parent
    )
    assert code == 0, terminal
    lines = terminal.splitlines()
    assert (
        "bridgec: loading tiny.pt" in lines
        and "bridgec: exporting tiny.pt to ONNX with the direct exporter" in lines
    )
    assert "\x1b" not in terminal + stdout and "\r" not in terminal.replace("\r\n", "\n"), terminal


def test_an_exporter_fallback_names_the_exporter_now_running(monkeypatch):
    import torch

    from frontends import pytorch_export

    def refuse(*args):
        raise RuntimeError("Unsupported: ONNX export of transpose for tensor of unknown rank")

    def dynamo(*args):
        return onnx.parser.parse_model(HARDSWISH)

    monkeypatch.setitem(pytorch_export._EXPORTERS, "torchscript", refuse)
    monkeypatch.setitem(pytorch_export._EXPORTERS, "dynamo", dynamo)
    said, steps = [], []
    _, used = pytorch_export.export(
        torch.nn.ReLU(), (torch.zeros(1, 4),), ["x"], name="m.pt", notify=said.append, step=steps.append
    )
    assert used == "dynamo" and steps == ["exporting m.pt to ONNX with the dynamo exporter"]
    assert said[0].startswith("the torchscript exporter failed (Unsupported: ONNX export of transpose")


def test_no_colour_anywhere_and_escape_sequences_only_in_the_status_line():
    """bridgec prints no colour (nothing to switch off for NO_COLOR); the one escape sequence it
    writes, erase-to-end-of-line, is written by progress.py, on a terminal only (its tests)."""
    escape = re.compile(r"\\x1b|\\033|\\u001b|\\e\[")
    found = {
        str(path.relative_to(ROOT))
        for folder in SOURCES
        for path in (ROOT / folder).rglob("*.py")
        if ".build" not in path.parts and escape.search(path.read_text())
    }
    assert found == {"bridgec/driver/progress.py"}, found
    assert not re.search(r"\\x1b\[[0-9;]*m", (ROOT / "bridgec/driver/progress.py").read_text())


# --- --timings adds up ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_timings_count_the_imports_and_add_up_to_the_wall_time(model):
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bridgec", model.name, "-o", "m.mlpackage", "-q", "--timings"],
        cwd=model.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("stages: "))
    rows = {
        name: float(seconds)
        for name, seconds in re.findall(r"([a-z][a-z ]*?) (-?[0-9.]+)s", line.removeprefix("stages: "))
    }
    total = rows.pop("total")
    assert {"import coremltools", "import onnxruntime", "backend", "check", "unaccounted"} <= set(rows)
    assert ("start" in rows) == Path("/proc/self/stat").exists()  # the process's start: Linux says when
    assert abs(sum(rows.values()) - total) <= 0.01 * len(rows), line  # each row is rounded to 10 ms
    # the process's start comes from /proc (10 ms ticks); what follows the line is only the exit
    assert total <= wall + 0.05 and wall - total <= 0.5 + 0.1 * wall, (wall, line)


# --- counts read as English -------------------------------------------------------------------------------


def test_plural():
    assert plural(1, "node") == "1 node" and plural(0, "node") == "0 nodes" and plural(2, "node") == "2 nodes"
    assert plural(["a"], "output") == "1 output" and plural(3, "class", "classes") == "3 classes"
    assert noun({"x"}, "buffer") == "buffer" and noun([], "buffer") == "buffers"
    assert noun(2, "was", "were") == "were"


def test_one_node_is_one_node(tmp_path):
    from bridgec.driver.analysis import analyze

    path = tmp_path / "relu.onnx"
    path.write_bytes(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
        ).SerializeToString()
    )
    summary = analyze(path).summary
    assert summary.startswith("1 node: 1 native, 0 lowered, 0 custom"), summary


# Messages a generated document records word for word: their new wording goes in with the document
# regenerated (python tools/gen_coverage.py: Core AI's node tests, several minutes).
RECORDED: dict[str, str] = {}


def test_no_message_counts_with_a_bare_s_or_s_in_brackets():
    """No "node(s)", no "{n} nodes" that reads "1 nodes": a count goes through bridgec.core.words."""
    offenders = []
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            if ".build" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.JoinedStr):
                    continue
                parts = node.values
                for value in parts:
                    if isinstance(value, ast.Constant) and re.search(r"[a-z]\(s\)", str(value.value)):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value.value.strip()}")
                for count, text in zip(parts, parts[1:], strict=False):
                    # {len(x)} nodes: a collection's length, then a plural noun ({len(x):,} bytes, a
                    # size with thousands separators, reads as a size)
                    if (
                        isinstance(count, ast.FormattedValue)
                        and count.format_spec is None
                        and isinstance(count.value, ast.Call)
                        and getattr(count.value.func, "id", None) == "len"
                        and isinstance(text, ast.Constant)
                        and re.match(r" [a-z]+s\b", str(text.value))
                    ):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {{len(...)}}{text.value}")
    offenders = [line for line in offenders if line.split(":")[0] not in RECORDED]
    assert not offenders, "use bridgec.core.words.plural/noun:\n" + "\n".join(offenders)
