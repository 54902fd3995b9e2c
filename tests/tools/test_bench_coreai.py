"""tools/bench_coreai.py's smoke mode (what CI runs): one whole-process run of each side on a tiny model."""

import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("coreai_torch")  # bridgec's dev extra installs it: CI runs this

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import bench_coreai  # noqa: E402


def test_smoke_measures_every_side_and_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    assert bench_coreai.main(["--smoke", "--out", str(out)]) == 0
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| {bench_coreai.SMOKE} |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    walls = [float(v) for v in cells[1].split(" / ")]
    cpus = [float(v) for v in cells[3].split(" / ")]
    assert len(walls) == len(cpus) == len(bench_coreai.SIDES)
    # Every side is a fresh python importing torch: over half a second of CPU each. A CPU figure near 0
    # would mean the children's time was not counted (RUSAGE_SELF, or the wrong before/after).
    assert all(c > 0.5 for c in cpus), cpus
    assert all(w > 0.5 for w in walls), walls
    ratios = [float(v) for v in cells[2].split(", ")]
    assert ratios == pytest.approx([walls[0] / walls[2], walls[1] / walls[2]], abs=0.01)
    assert all(math.isfinite(r) and r > 0 for r in ratios)
    assert "→" in cells[5] and "check" in cells[6]  # the load before and after; bridgec's stages


def test_a_failing_side_stops_the_benchmark(tmp_path: Path, monkeypatch) -> None:
    # a side that fails must not leave a row of times for a model it did not write
    fake = tmp_path / "bridgec"
    fake.write_text("#!/bin/sh\necho 'no converter here' >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setattr(bench_coreai, "_bin", lambda name: str(fake))
    with pytest.raises(SystemExit, match="tiny: bridgec failed: no converter here"):
        bench_coreai.run([bench_coreai.SMOKE], 1)
