"""A few hundred fuzz cases (tools/fuzz.py) in CI: damaged .onnx, TorchScript and .pt2 files must give
one-line errors (or a complete model), never a traceback, a hang or a leftover file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.slow
@pytest.mark.parametrize(
    "formats, cases, seed",
    [(("onnx",), 200, 1), (("pt", "pt2"), 40, 2)],
    ids=["onnx", "torch"],
)
def test_fuzz_smoke(formats, cases, seed, seeds, tmp_path):
    failures = tmp_path / "failures"
    summary = fuzz.fuzz(cases, seed, timeout=120, formats=formats, jobs=2, failures=failures, seed_dir=seeds)
    assert summary.cases == cases
    assert not summary.failed, summary.render() + "\n\n" + _details(failures)
    # the cases reached the checks: a good part of them is refused with exit 2
    assert summary.exit_codes["2"] > cases // 3, summary.render()
