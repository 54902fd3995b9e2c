"""The benchmark writer: a run of some sections keeps the figures of the others."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from bench_convert import merge_sections  # noqa: E402

OLD = """# Benchmarks

Written on day 1.

## End to end vs coremltools, NeuralNetwork: median of 3 whole-process runs

| old convert figures |

## The numbers check: `bridgec` vs `bridgec --no-check`, median of 3 alternating runs

| old check figures |
"""

NEW = """# Benchmarks

Written on day 2.

## The numbers check: `bridgec` vs `bridgec --no-check`, median of 5 alternating runs

| new check figures |

## Scaling (-O lower-custom with per-pass checks)

| new scaling figures |
"""


def test_a_partial_run_replaces_its_sections_and_keeps_the_rest() -> None:
    merged = merge_sections(OLD, NEW)
    assert "Written on day 2." in merged and "day 1" not in merged
    assert "| old convert figures |" in merged
    assert "| new check figures |" in merged and "| old check figures |" not in merged
    assert "median of 5 alternating runs" in merged and "median of 3 alternating" not in merged
    # Sections keep their place; one the old file lacked goes at the end.
    assert merged.index("old convert") < merged.index("new check") < merged.index("new scaling")
