"""Issue 5, item 7: bridgec emits no more Core ML layers / MIL ops than coremltools' own direct
PyTorch conversion (tools/compare_layers.py, in a process of its own: coremltools must see torch
from its first import, which bridgec's in-process import deliberately hides)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_no_more_layers_than_coremltools(tmp_path):
    table = tmp_path / "layers.md"
    done = subprocess.run(
        [
            sys.executable,
            "tools/compare_layers.py",
            "resnet18",
            "mobilenet_v3_large",
            "--markdown",
            str(table),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = [line.split(" | ") for line in table.read_text().splitlines()[2:]]
    assert len(rows) == 4  # two families x two formats, each counted by both converters
    for family, fmt, ours, theirs, verdict in ((r[0].strip("| "), *r[1:4], r[4].strip(" |")) for r in rows):
        assert verdict == "ok" and int(ours) <= int(theirs), (family, fmt, ours, theirs)
