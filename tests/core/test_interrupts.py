"""Ctrl-C and SIGTERM at any moment of a run, from its first milliseconds on: exit 130, the one line
``bridgec: interrupted; no output was written``, no output, and no temporary file left anywhere."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import onnx
import pytest

from bridgec.driver.cli import main
from tests.conftest import ROOT

MESSAGE = "bridgec: interrupted; no output was written"
RELU = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])

# A tensorflow that takes its time to import: coremltools tries it (and sklearn, xgboost, ...) in bare
# ``except:`` clauses, which swallow a KeyboardInterrupt. Only coremltools' attempt is slowed down.
FAKE_TENSORFLOW = """
import sys, time, traceback
if any("coremltools" in frame.filename for frame in traceback.extract_stack()):
    sys.stderr.write("FAKE: coremltools imports tensorflow\\n")
    sys.stderr.flush()
    time.sleep(5)
raise ImportError("no tensorflow here")
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    """m.onnx in ``work/`` and an empty ``tmp/`` the runs take as TMPDIR."""
    (tmp_path / "work").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "work" / "m.onnx").write_bytes(onnx.parser.parse_model(RELU).SerializeToString())
    return tmp_path


def _env(folder: Path, *paths: Path, **extra: str) -> dict[str, str]:
    python_path = os.pathsep.join([str(ROOT), *map(str, paths)])
    return dict(os.environ, PYTHONPATH=python_path, TMPDIR=str(folder / "tmp"), **extra)


def _interrupt(command: list[str], env: dict, cwd: Path, when, signum: int) -> tuple[int, list[str]]:
    """Run ``command``, send ``signum`` as soon as a stderr line matches ``when``; the exit status and
    the stderr lines after that one (Python's -X importtime lines left out)."""
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    sent = False
    for line in proc.stderr:
        if re.search(when, line.rstrip()):
            proc.send_signal(signum)
            sent = True
            break
    rest = proc.stderr.read()
    code = proc.wait(timeout=240)
    assert sent, f"no line matched {when!r}"
    return code, [line for line in rest.splitlines() if not line.startswith("import time:")]


def _assert_interrupted(code: int, lines: list[str], folder: Path) -> None:
    assert code == 130, lines
    assert lines == [MESSAGE], lines
    assert sorted(p.name for p in (folder / "work").iterdir()) == ["m.onnx"]
    assert list((folder / "tmp").iterdir()) == []


def _commands() -> list[tuple[str, list[str], dict]]:
    """``python -m bridgec`` and the console script (when installed), each telling when its import of
    the bridgec package is done (the first moment bridgec's own code has run)."""
    commands = [("python -m bridgec", [sys.executable, "-X", "importtime", "-m", "bridgec"], {})]
    script = Path(sys.executable).with_name("bridgec")
    if script.exists():
        commands.append(("bridgec", [str(script)], {"PYTHONPROFILEIMPORTTIME": "1"}))
    return commands


@SIGNALS
@pytest.mark.parametrize("command", _commands(), ids=[c[0] for c in _commands()])
def test_in_the_first_milliseconds(command, signum, folder):
    """The signal lands as soon as the bridgec package is imported, long before main() runs."""
    _, args, extra = command
    env = _env(folder, **extra)
    code, lines = _interrupt([*args, "m.onnx"], env, folder / "work", r"\|\s+bridgec$", signum)
    _assert_interrupted(code, lines, folder)


@SIGNALS
def test_while_coremltools_imports_its_optional_packages(signum, folder):
    """coremltools swallows the KeyboardInterrupt; the run still ends as interrupted, writing nothing."""
    fake = folder / "fake"
    fake.mkdir()
    (fake / "tensorflow.py").write_text(FAKE_TENSORFLOW)
    env = _env(folder, fake)
    command = [sys.executable, "-m", "bridgec", "m.onnx"]
    code, lines = _interrupt(command, env, folder / "work", "FAKE: coremltools imports tensorflow", signum)
    _assert_interrupted(code, lines, folder)


@SIGNALS
@pytest.mark.parametrize("stage", ["loading", "running -O", "checking the numbers"])
def test_during_the_conversion(stage, signum, folder):
    """At each stage of an ML Program conversion: coremltools' tmp*.mlpackage, onnxruntime's files
    and everything else in the temporary folder go too. (--progress: stage lines on the pipe.)"""
    command = [sys.executable, "-m", "bridgec", "m.onnx", "--progress"]
    code, lines = _interrupt(command, _env(folder), folder / "work", f"bridgec: {stage}", signum)
    # a one-node model's stage can end before the signal lands: the next stage's own progress line
    # ("bridgec: writing m.mlpackage") may come first; the run must still end interrupted, writing nothing
    lines = [line for line in lines if not re.match(r"bridgec: [a-z]+ing\b", line)]
    _assert_interrupted(code, lines, folder)


@SIGNALS
def test_while_writing(signum, folder):
    """At the last stage the outputs may already be in place: then they are whole, and the line says
    so; otherwise nothing was written. Either way no staged or temporary file is left."""
    command = [sys.executable, "-m", "bridgec", "m.onnx", "--progress", "--report-json", "m.json"]
    code, lines = _interrupt(command, _env(folder), folder / "work", "bridgec: writing", signum)
    names = sorted(p.name for p in (folder / "work").iterdir())
    assert list((folder / "tmp").iterdir()) == []
    if lines == [MESSAGE]:
        assert code == 130 and names == ["m.onnx"]
    else:
        assert code in (0, 130), lines
        assert names == ["m.json", "m.mlpackage", "m.onnx"]
        assert code == 0 or lines[-1] == "bridgec: interrupted; m.mlpackage was already written completely"


@pytest.mark.parametrize("outcome", ["converted", "failed"])
def test_a_run_leaves_nothing_in_the_temporary_folder(outcome, folder):
    # Relu is Max(x, 0) by its ONNX function body, which -O none inlines: avoid both to fail
    args = [] if outcome == "converted" else ["-O", "none", "--avoid-op", "Relu", "--avoid-op", "Max"]
    done = subprocess.run(
        [sys.executable, "-m", "bridgec", "m.onnx", "-q", *args],
        cwd=folder / "work",
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == (0 if outcome == "converted" else 1), done.stderr
    assert list((folder / "tmp").iterdir()) == []


def test_main_from_python_gives_back_the_temporary_folder(folder, capsys, monkeypatch):
    """Called from Python, main() uses a folder of its own too, and restores tempfile's and the
    environment's settings afterwards."""
    monkeypatch.chdir(folder / "work")
    before = (tempfile.tempdir, os.environ.get("TMPDIR"), os.environ.get("TORCHINDUCTOR_CACHE_DIR"))
    seen = []
    real_mkdtemp = tempfile.mkdtemp

    def spy(*args, **kwargs):
        seen.append(tempfile.gettempdir())
        return real_mkdtemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    assert main(["m.onnx", "-q"]) == 0, capsys.readouterr().err
    assert (tempfile.tempdir, os.environ.get("TMPDIR"), os.environ.get("TORCHINDUCTOR_CACHE_DIR")) == before
    private = [Path(d) for d in seen if Path(d).name.startswith("bridgec-")]
    assert private and not any(d.exists() for d in private)  # coremltools' package went into it


def test_the_temporary_folder_of_a_killed_run_goes_with_the_next_run(folder):
    """SIGKILL cannot be caught: the killed run's folder stays, until the next run removes it (its
    marker names a process that is gone). Folders of live runs and the user's stay."""
    (folder / "tmp" / "bridgec-mine").mkdir()  # named like one, but without a marker
    command = [sys.executable, "-m", "bridgec", "m.onnx", "--progress"]
    code, _ = _interrupt(
        command, _env(folder), folder / "work", "bridgec: checking the numbers", signal.SIGKILL
    )
    assert code == -signal.SIGKILL
    assert len(list((folder / "tmp").iterdir())) > 1
    done = subprocess.run(
        [*command, "-q", "-o", "other.mlpackage"],
        cwd=folder / "work",
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (folder / "tmp").iterdir()] == ["bridgec-mine"]
