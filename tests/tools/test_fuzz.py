"""A few hundred fuzz cases (tools/fuzz.py) in CI: damaged .onnx, TorchScript and .pt2 files must give
one-line errors (or a complete model), never a traceback, a hang or a leftover file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_fuzz():
    spec = importlib.util.spec_from_file_location("bridgec_tools_fuzz", ROOT / "tools" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()


def _details(folder: Path) -> str:
    return "\n\n".join(p.read_text()[:1500] for p in sorted(folder.glob("*.txt"))[:5])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    fuzz.make_seeds(folder)
    return folder


def test_mutations_are_reproducible_and_varied(seeds):
    data = fuzz.make_seeds(seeds)
    first = list(fuzz.generate(60, 5, fuzz.FORMATS, data))
    again = list(fuzz.generate(60, 5, fuzz.FORMATS, data))
    assert first == again
    assert len({case[3] for case in first}) >= 55  # (a field mutation may repeat or change nothing)
    assert {m.split(":")[0] for _, _, m, _ in first} >= {"zip_member", "onnx_field"}
    assert sum(case[3] == data[case[1]] for case in first) <= 3


@pytest.mark.parametrize(
    "script, expected",
    [
        ("raise ValueError('boom')", "traceback"),
        (
            "import sys; print('bridgec: error: internal error KeyError: x', file=sys.stderr); sys.exit(1)",
            "traceback",
        ),
        ("import sys; sys.exit(3)", "exit"),
        ("import sys; print('W1125 a library warning', file=sys.stderr); sys.exit(2)", "noise"),
        ("open('out.mlmodel', 'w').write('half'); import sys; sys.exit(1)", "leftover"),
        ("open('.out.mlmodel.tmp', 'w'); import sys; sys.exit(0)", "leftover"),
        ("import time; time.sleep(30)", "hang"),
    ],
)
def test_the_oracle_notices_each_kind_of_finding(script, expected, monkeypatch):
    """The control for the smoke run: each failure kind is caught when a 'bridgec' commits it."""
    monkeypatch.setattr(fuzz, "command", lambda case, fmt: [sys.executable, "-c", script])
    outcome = fuzz.run_case("control", "onnx", "none", b"x", timeout=1.5)
    assert expected in outcome.findings, outcome


def test_a_clean_error_is_not_a_finding(monkeypatch):
    script = "import sys; print('bridgec: error: case.onnx: not a readable ONNX model', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(fuzz, "command", lambda case, fmt: [sys.executable, "-c", script])
    assert fuzz.run_case("control", "onnx", "none", b"x", timeout=30).findings == []


# A stand-in for bridgec's CLI in the fork server: it runs the case file as Python, so each test
# plants its own failure in the case's bytes.
FAKE_CLI = """
import sys

def main():
    source = open(sys.argv[1]).read()
    exec(compile(source, sys.argv[1], "exec"), {"__name__": "case"})
    return 0
"""


@pytest.fixture(scope="module")
def fork_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fake-cli")
    (folder / "fake_bridgec_cli.py").write_text(FAKE_CLI)
    server = fuzz.ForkServer(entry="fake_bridgec_cli:main", preload=(), path=(str(folder),))
    yield server
    server.close()


@pytest.mark.parametrize(
    "script, expected",
    [
        ("raise ValueError('boom')", "traceback"),
        ("import sys; sys.exit(3)", "exit"),
        ("raise SystemExit(300)", "exit"),  # kept as the interpreter would: 300 & 0xff
        ("import os; os.write(2, b'E1125 from C++\\n'); raise SystemExit(2)", "noise"),
        ("open('out.mlmodel', 'w').write('half'); import sys; sys.exit(1)", "leftover"),
        ("import time; time.sleep(30)", "hang"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "exit"),
    ],
)
def test_the_fork_server_notices_each_kind_of_finding(fork_server, script, expected):
    outcome = fuzz.run_case("control", "onnx", "none", script.encode(), timeout=1.5, runner=fork_server)
    assert expected in outcome.findings, outcome


def test_the_fork_server_keeps_exit_codes_and_survives_its_children(fork_server):
    started = fork_server.process.pid if fork_server.process else None
    clean = "import sys; print('bridgec: error: case.onnx: bad', file=sys.stderr); sys.exit(2)"
    outcome = fuzz.run_case("control", "onnx", "none", clean.encode(), timeout=30, runner=fork_server)
    assert (outcome.returncode, outcome.findings) == (2, []), outcome
    assert outcome.stderr == "bridgec: error: case.onnx: bad\n"
    hang = fuzz.run_case("control", "onnx", "none", b"while True: pass", timeout=0.5, runner=fork_server)
    assert hang.returncode is None and "hang" in hang.findings
    # the killed child took nothing with it: the same worker runs the next case
    assert fuzz.run_case("control", "onnx", "none", b"", timeout=30, runner=fork_server).returncode == 0
    assert started is None or fork_server.process.pid == started
    assert fork_server.restarts == 0


def test_an_interrupted_run_keeps_the_cases_that_ran(seeds, monkeypatch):
    """Ctrl-C (or SIGTERM, which main turns into it) ends a soak with the summary of what ran."""
    script = "import sys; print('bridgec: error: bad', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(fuzz, "command", lambda case, fmt: [sys.executable, "-c", script])

    def progress(summary, outcome):
        if summary.cases == 3:
            raise KeyboardInterrupt

    summary = fuzz.fuzz(1000, 0, timeout=30, formats=("onnx",), jobs=2, seed_dir=seeds, progress=progress)
    assert summary.interrupted and summary.cases == 3 and summary.exit_codes["2"] == 3
    assert "(interrupted)" in summary.render()


def test_a_dead_worker_is_a_finding_and_is_restarted(tmp_path):
    folder = tmp_path / "cli"
    folder.mkdir()
    (folder / "fake_bridgec_cli.py").write_text(FAKE_CLI)
    server = fuzz.ForkServer(entry="fake_bridgec_cli:main", preload=(), path=(str(folder),))
    try:
        killer = b"import os, signal; os.kill(os.getppid(), signal.SIGKILL)"
        outcome = fuzz.run_case("control", "onnx", "none", killer, timeout=30, runner=server)
        assert "exit" in outcome.findings and "fork server died" in outcome.stderr, outcome
        assert fuzz.run_case("control", "onnx", "none", b"", timeout=30, runner=server).returncode == 0
        assert server.restarts == 1
    finally:
        server.close()


def test_the_fork_server_runs_the_real_cli_like_the_console_script(seeds):
    """A valid seed converts in a fork (exit 0, a complete model); a damaged one is a clean exit 2."""
    data = fuzz.make_seeds(seeds, ("onnx",))["onnx"]
    server = fuzz.ForkServer(preload=("bridgec.driver.convert",))
    try:
        good = fuzz.run_case("seed", "onnx", "none", data, timeout=120, runner=server)
        bad = fuzz.run_case("cut", "onnx", "truncate", data[:100], timeout=120, runner=server)
    finally:
        server.close()
    assert (good.returncode, good.findings) == (0, []), good
    assert (bad.returncode, bad.findings) == (2, []), bad
    assert bad.stderr.startswith("bridgec: error: ")


def test_hostile_pt2_members_are_reproducible_and_reach_the_payload_oracle(seeds, monkeypatch, tmp_path):
    """Every kind of .pt2 member mutation comes up, the same for the same seed; and a payload that
    runs is a finding of its own (here a stand-in bridgec that imports the module a case names)."""
    monkeypatch.setitem(fuzz.MODES, "pt2_members", True)
    data = fuzz.make_seeds(seeds, ("pt2",))
    first = list(fuzz.generate(80, 9, ("pt2",), data))
    assert first == list(fuzz.generate(80, 9, ("pt2",), data))
    kinds = {m.split(":")[1] for _, _, m, _ in first}
    assert {"string", "expr", "guard", "target", "treespec", "opaque", "aoti", "aoti_slip", "rename"} <= kinds
    script = (
        f"import sys; sys.dont_write_bytecode = True; import {fuzz.PAYLOAD_MODULE}; "
        "print('bridgec: error: x', file=sys.stderr); sys.exit(2)"
    )
    monkeypatch.setattr(fuzz, "command", lambda case, fmt: [sys.executable, "-c", script])
    name, fmt, mutation, case = first[0]
    outcome = fuzz.run_case(name, fmt, mutation, case, timeout=60)
    assert outcome.findings == ["payload"], outcome


@pytest.mark.slow
def test_fuzz_smoke_hostile_pt2_members(seeds, tmp_path, monkeypatch):
    """A few hostile .pt2 archives (payloads in the program, AOTInductor and pickle members, zip slip
    names, inflated sizes): no payload runs, each is one clean error."""
    monkeypatch.setitem(fuzz.MODES, "pt2_members", True)
    failures = tmp_path / "failures"
    summary = fuzz.fuzz(12, 4, timeout=120, formats=("pt2",), jobs=2, failures=failures, seed_dir=seeds)
    assert summary.cases == 12
    assert not summary.failed, summary.render() + "\n\n" + _details(failures)
    assert summary.exit_codes["2"] >= 10, summary.render()


@pytest.mark.slow
@pytest.mark.parametrize(
    "formats, cases, seed, output",
    [
        (("onnx",), 200, 1, "out.mlmodel"),
        (("pt", "pt2"), 36, 2, "out.mlmodel"),  # (with the hostile .pt2 run above: about as long as 40)
        (("onnx",), 60, 3, "out.mlpackage"),  # an ML Program: a folder to leave whole or not at all
    ],
    ids=["onnx", "torch", "onnx-mlprogram"],
)
def test_fuzz_smoke(formats, cases, seed, output, seeds, tmp_path, monkeypatch):
    monkeypatch.setitem(fuzz.OUTPUT, "name", output)
    failures = tmp_path / "failures"
    summary = fuzz.fuzz(cases, seed, timeout=120, formats=formats, jobs=2, failures=failures, seed_dir=seeds)
    assert summary.cases == cases
    assert not summary.failed, summary.render() + "\n\n" + _details(failures)
    # the cases reached the checks: a good part of them is refused with exit 2
    assert summary.exit_codes["2"] > cases // 3, summary.render()
    assert summary.exit_codes["0"] > 0, summary.render()  # some cases convert: the output check ran
