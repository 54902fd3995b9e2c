"""The scaling benchmark's child: one conversion's CPU per stage and its own peak memory."""

from __future__ import annotations

import resource

from tests.helpers import load_tool


def test_one_conversion_reports_its_stages_and_its_own_peak(tmp_path) -> None:
    bench = load_tool("tools/bench_scaling.py")
    source = bench.save_synthetic(200, "dag", tmp_path / "dag200.onnx")
    # a parent far larger than the child: its high-water mark must not be reported as the child's
    ballast = bytearray(1 << 30)
    ballast[:: 1 << 12] = b"\1" * len(range(0, 1 << 30, 1 << 12))
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = bench.measure(source, tmp_path / "dag200.mlmodel", "neuralnetwork", True, True)
    del ballast
    assert {"load", "check: source", "passes", "backend", "check"} <= set(result["stages"])
    assert 0 < sum(result["stages"].values()) <= result["cpu"] * 1.05
    assert result["peak"] < parent_peak - 512, (result["peak"], parent_peak)
    assert (tmp_path / "dag200.mlmodel").is_file()
