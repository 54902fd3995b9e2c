"""tools/bench_speed.py: one row of the speed table on a tiny model, its profile, and how the profile
shares a function's time among the parts that call it. No timing is asserted: the figures are the
benchmark's, the test only proves the command produces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import bench_speed  # noqa: E402


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def _cells(text: str, first: str) -> list[str]:
    rows = [ln for ln in text.splitlines() if ln.startswith(f"| {first} |")]
    assert len(rows) == 1, text
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def _assert_quotient(ratio: str, ours: str, theirs: str) -> None:
    """``ratio`` is ``ours / theirs``, up to the rounding of all three to 2 decimals."""
    r, a, b = float(ratio), float(ours), float(theirs)
    assert a > 0 and b > 0
    assert (a - 0.005) / (b + 0.005) - 0.005 <= r <= (a + 0.005) / (b - 0.005) + 0.005


@pytest.mark.slow
def test_a_row_against_coremltools_and_a_profile(tmp_path: Path) -> None:
    model = tmp_path / "tiny.pt"
    torch.jit.trace(Tiny().eval(), torch.randn(1, 3, 16, 16)).save(str(model))
    out = tmp_path / "speed.md"
    tool = ROOT / "tools" / "bench_speed.py"
    args = ["--models", str(model), "--shape", "1x3x16x16", "--formats", "mlprogram", "--pairs", "1"]
    done = subprocess.run(
        [sys.executable, str(tool), *args, "--profile", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert _cells(done.stdout, "tiny") == _cells(text, "tiny")  # printed as written
    assert f"`python tools/bench_speed.py --models {model} --shape 1x3x16x16" in text
    assert "load average (1 min) at start: " in text and "load average (1 min) at end: " in text
    assert "pair 1/1 bridgec:" in done.stderr and "pair 1/1 coremltools:" in done.stderr

    cells = _cells(text, "tiny")
    name, source, fmt, cpu_ours, cpu_theirs, cpu_ratio, verdict = cells[:7]
    wall_ours, wall_theirs, wall_ratio, pairs = cells[7:11]
    assert (name, source, fmt, pairs) == ("tiny", "pt", "mlprogram", "1")
    # Each side is a fresh python importing torch: over half a second of CPU. A figure near 0 would mean
    # the child's time was not counted (the parent's own rusage, or the wrong before/after).
    assert float(cpu_ours) > 0.5 and float(cpu_theirs) > 0.5
    _assert_quotient(cpu_ratio, cpu_ours, cpu_theirs)
    _assert_quotient(wall_ratio, wall_ours, wall_theirs)
    if cpu_ratio != "0.50":  # else rounding hides which side of the goal it is
        assert verdict == ("pass" if float(cpu_ratio) < 0.5 else "fail")

    # The profile: every part on both sides, adding up to the total.
    seconds = {}
    for part in (*bench_speed.PARTS, "total"):
        cells = _cells(text, part)
        seconds[part] = {"bridgec": float(cells[1]), "coremltools": float(cells[3])}
    for who in ("bridgec", "coremltools"):
        total = sum(seconds[part][who] for part in bench_speed.PARTS)
        assert abs(total - seconds["total"][who]) <= 0.006 * len(bench_speed.PARTS), (who, seconds)
        assert seconds["import torch"][who] > 0 and seconds["import coremltools"][who] > 0
    # Only bridgec runs bridgec's passes and the check; both run coremltools' MIL passes.
    assert seconds["import bridgec"]["coremltools"] == seconds["bridgec passes"]["coremltools"] == 0
    assert seconds["numbers check"]["coremltools"] == 0
    assert seconds["coremltools passes"]["coremltools"] > 0
    assert (tmp_path / "speed.bridgec.prof").stat().st_size > 0
    assert (tmp_path / "speed.coremltools.prof").stat().st_size > 0


def test_a_shared_function_counts_in_each_calling_part_by_its_callers_time() -> None:
    site = "/venv/lib/python3.11/site-packages/"
    entry = (f"{site}coremltools/converters/_converters_entry.py", 1, "convert")
    passes = (f"{site}coremltools/converters/mil/mil/passes/defs.py", 1, "apply")
    check = (str(ROOT / "bridgec" / "driver" / "check.py"), 1, "run_check")
    helper = ("/usr/lib/python3.11/functools.py", 1, "reduce")
    deeper = ("/usr/lib/python3.11/operator.py", 1, "add")
    lazy = ("<frozen importlib._bootstrap>", 1, "_find_and_load")
    torch_init = (f"{site}torch/__init__.py", 1, "<module>")
    # (primitive calls, calls, own time, cumulative time, {caller: the same, for calls from it})
    table = {
        entry: (1, 1, 0.25, 10.0, {}),
        passes: (1, 1, 1.0, 4.0, {entry: (1, 1, 1.0, 4.0)}),
        check: (1, 1, 0.5, 5.75, {entry: (1, 1, 0.5, 5.75)}),
        helper: (4, 4, 2.0, 6.0, {passes: (3, 3, 1.5, 3.0), check: (1, 1, 0.5, 3.0)}),
        deeper: (9, 9, 2.0, 2.0, {helper: (9, 9, 2.0, 2.0)}),
        lazy: (1, 1, 0.25, 2.25, {check: (1, 1, 0.25, 2.25)}),
        torch_init: (1, 1, 2.0, 2.0, {lazy: (1, 1, 2.0, 2.0)}),
    }
    parts = bench_speed.split(SimpleNamespace(stats=table), {"torch": 1.5})
    # reduce: 1.5 s own from the passes, 0.5 from the check; add, reached through reduce only, goes
    # half and half, by reduce's time from each.
    assert parts["coremltools passes"] == pytest.approx(1.0 + 1.5 + 1.0)
    assert parts["numbers check"] == pytest.approx(0.5 + 0.5 + 1.0)
    # The lazy import inside the check is import time, split by the import clock's measure.
    assert parts["import torch"] == pytest.approx(1.5) and parts["import other"] == pytest.approx(0.75)
    assert parts["other"] == pytest.approx(0.25)
    assert sum(parts.values()) == pytest.approx(sum(row[2] for row in table.values()))


def test_a_failed_peer_keeps_bridgecs_times_and_says_why() -> None:
    case = bench_speed.Case("vit_b_16", Path("vit_b_16.pt"), "pt", "1x3x224x224")
    sides = {
        "bridgec": bench_speed.Side(cpu=[6.0, 4.0, 5.0], wall=[3.0, 2.0, 2.5]),
        "coremltools": bench_speed.Side(failure="TypeError: only 0-dimensional arrays can be converted"),
    }
    cells = _cells(bench_speed.row(case, "mlprogram", sides, [1.0, 2.5]), "vit_b_16")
    assert cells[3:10] == ["5.00", "failed", "—", "—", "2.50", "failed", "—"]
    assert cells[10:] == [
        "3 / 0",
        "1.0–2.5",
        "coremltools failed: TypeError: only 0-dimensional arrays can be converted",
    ]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--models", "mobilenet"], "unknown model 'mobilenet'"),
        (["--models", "missing.pt"], "missing.pt: no such file"),
        (["--pairs", "0"], "--pairs 0: at least 1"),
        (["--formats", "mlmodel"], "unknown --formats/--sources value mlmodel"),
    ],
)
def test_a_bad_argument_is_one_line_before_any_model_is_built(argv, said, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        bench_speed.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert said in err[-1] and "Traceback" not in "\n".join(err)
