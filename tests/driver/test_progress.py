"""Stage progress (issue 17, item 6): on a terminal one live status line, rewritten in place with the
elapsed seconds of a long stage and cleared at the end; nothing when stderr is piped (warnings and
errors still are), nothing with -q; --progress forces stage lines on a pipe."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import onnx
import pytest

from bridgec.driver import progress as progress_mod
from bridgec.driver.progress import LINES, LIVE, OFF, Progress, mode_for
from tests.conftest import ROOT

RELU = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
ERASE = "\r\x1b[K"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_mode_follows_the_stream_and_the_flags(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    assert mode_for(Terminal(), quiet=False) == LIVE
    assert mode_for(Terminal(), quiet=True) == OFF
    assert mode_for(Terminal(), quiet=False, plain=True) == LINES  # --debug, --print-after
    assert mode_for(io.StringIO(), quiet=False) == OFF  # piped or redirected
    assert mode_for(io.StringIO(), quiet=False, forced=True) == LINES  # --progress
    assert mode_for(io.StringIO(), quiet=True, forced=True) == OFF
    monkeypatch.setenv("TERM", "dumb")
    assert mode_for(Terminal(), quiet=False) == LINES


def test_a_live_line_is_rewritten_counts_long_stages_and_is_cleared(monkeypatch):
    monkeypatch.setattr(progress_mod, "LONG", 0.2)
    monkeypatch.setattr(progress_mod, "_TICK", 0.05)
    stream = Terminal()
    with Progress(LIVE, stream) as progress:
        progress("loading m.onnx")
        progress("running -O lower-custom")
        time.sleep(0.5)  # the ticker redraws the line with the elapsed seconds
        progress.warn("warning: something the user must see")
        progress("writing m.mlpackage")
    text = stream.getvalue()
    assert "\n" in text and text.count("\n") == 1  # the warning alone is a line of its own
    assert text.startswith("\rbridgec: loading m.onnx\x1b[K\rbridgec: running -O lower-custom\x1b[K")
    assert "\rbridgec: running -O lower-custom 0s\x1b[K" in text  # 0.2 s and more, rounded
    assert f"{ERASE}bridgec: warning: something the user must see\n\rbridgec: running -O" in text
    assert text.endswith(f"\rbridgec: writing m.mlpackage\x1b[K{ERASE}")
    assert not progress._ticker


def test_a_long_message_is_cut_to_the_terminal_width(monkeypatch):
    stream = Terminal()
    monkeypatch.setattr(Progress, "_width", lambda self: 40)
    with Progress(LIVE, stream) as progress:
        progress("checking the numbers: PyTorch against the Core ML model at x:1x3x224x224")
    first = stream.getvalue().split("\x1b[K")[0]
    assert first.startswith("\rbridgec: checking") and first.endswith("...") and len(first) == 41


def test_lines_and_off():
    lines, off = io.StringIO(), io.StringIO()
    for mode, stream in ((LINES, lines), (OFF, off)):
        with Progress(mode, stream) as progress:
            progress("loading m.onnx")
            progress.warn("warning: shown anyway")
    assert lines.getvalue() == "bridgec: loading m.onnx\nbridgec: warning: shown anyway\n"
    assert off.getvalue() == "bridgec: warning: shown anyway\n"


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx.parser.parse_model(RELU).SerializeToString())
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TERM", None)
    return env


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run bridgec with stderr on a pseudo-terminal (stdout piped): the status, stdout and what the
    terminal received."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridgec", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    received = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            received += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    stdout = proc.stdout.read().decode()
    return proc.wait(timeout=60), stdout, received.decode()


@pytest.mark.slow
def test_a_terminal_shows_each_stage_on_one_line_and_clears_it(model):
    code, stdout, terminal = _on_a_terminal([model.name, "-o", "m.mlpackage"], model.parent)
    assert code == 0, terminal
    for stage in (
        "loading m.onnx",
        "running -O",
        "building a Core ML",
        "coremltools: running its MIL",
        "checking the numbers",
        "writing",
    ):
        assert f"\rbridgec: {stage}" in terminal, terminal
    assert "\n" not in terminal, terminal  # no line of its own: the status line is rewritten
    assert terminal.endswith(ERASE), terminal  # nothing left on the line the report follows
    assert "wrote" in stdout and "checked:" in stdout


@pytest.mark.slow
def test_quiet_on_a_terminal_shows_nothing(model):
    code, stdout, terminal = _on_a_terminal([model.name, "-q", "-o", "m.mlpackage"], model.parent)
    assert code == 0 and terminal == "" and stdout == "", terminal


@pytest.mark.slow
def test_an_error_on_a_terminal_is_one_line_after_the_cleared_status(model):
    code, _, terminal = _on_a_terminal(
        [model.name, "-O", "none", "--avoid-op", "Relu", "--avoid-op", "Max"], model.parent
    )
    assert code == 1, terminal
    before, _, error = terminal.rpartition(ERASE)
    assert "\rbridgec: running -O none" in before
    assert error.startswith("bridgec: error: ") and error.strip().count("\n") == 0, terminal


@pytest.mark.slow
@pytest.mark.parametrize("flags", [[], ["--progress"]], ids=["piped", "--progress"])
def test_piped_shows_nothing_unless_asked(model, flags):
    done = subprocess.run(
        [sys.executable, "-m", "bridgec", model.name, "-o", "m.mlpackage", *flags],
        cwd=model.parent,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "checked:" in done.stdout
    if flags:
        lines = done.stderr.splitlines()
        assert lines[0] == "bridgec: loading m.onnx (onnx)" and lines[-1] == "bridgec: writing m.mlpackage"
        assert "\r" not in done.stderr
    else:
        assert done.stderr == ""
