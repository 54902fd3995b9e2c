"""torch is imported only when a PyTorch file is converted: `bridgec --help` and converting an .onnx
file must not pay its ~1.5 s import (issue 9). Checked in a fresh process that runs the CLI as
``python -m bridgec`` does and lists ``sys.modules`` at exit. (``-X importtime`` is no probe here: the
backend makes coremltools' own ``import torch`` attempts fail on purpose, and those still get a line.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import atexit, runpy, sys
listing = sys.argv[1]
atexit.register(lambda: open(listing, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["bridgec", *sys.argv[2:]]
runpy.run_module("bridgec", run_name="__main__", alter_sys=True)
"""


def _imported(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``bridgec ARGS`` as ``python -m bridgec`` does; the modules loaded when it exits."""
    listing = cwd / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(listing), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    modules = set(listing.read_text().split()) if listing.exists() else set()
    listing.unlink(missing_ok=True)
    return done, modules


def _torch(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == "torch" or m.startswith(("torch.", "torchvision")))


@pytest.fixture
def small_onnx(tmp_path: Path) -> Path:
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [weight],
    )
    path = tmp_path / "small.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_the_probe_sees_torch_when_a_torchscript_file_is_converted(tmp_path):
    """The control: the same probe reports torch for a run that does need it."""
    import torch

    model = torch.jit.trace(torch.nn.Conv2d(3, 4, 1).eval(), torch.randn(1, 3, 8, 8))
    torch.jit.save(model, str(tmp_path / "small.pt"))
    done, modules = _imported(["small.pt", "-i", "1x3x8x8", "-q", "-o", "small.mlmodel"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch" in _torch(modules)


def test_help_does_not_import_torch(tmp_path):
    done, modules = _imported(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()
    assert _torch(modules) == []


def test_converting_an_onnx_file_does_not_import_torch(small_onnx):
    done, modules = _imported([small_onnx.name, "-q", "-o", "small.mlmodel"], small_onnx.parent)
    assert done.returncode == 0, [ln for ln in done.stderr.splitlines() if "import time" not in ln]
    assert (small_onnx.parent / "small.mlmodel").stat().st_size > 0
    assert _torch(modules) == []


# What a default conversion does without (issue 21): each is imported where it is used, and one put
# back among a module's top-level imports shows up here.
NOT_FOR_A_DEFAULT_NEURALNETWORK = {
    "networkx": "the HTML report's drawing (bridgec/driver/report_graph.py's layout)",
    "bridgec.driver.compression": "--compress (bridgec/driver/convert.py)",
    "bridgec.backends.coreai.capabilities": "--format coreai (bridgec/driver/pipeline.py)",
    "bridgec.backends.coreai.kernels": "--format coreai",
    "bridgec.backends.coreml.mlprogram": "--format mlprogram",
    "bridgec.backends.coreml.executor.mlprogram": "checking an ML Program",
    "coreai": "--format coreai",
}


def test_a_default_torchscript_conversion_imports_only_what_it_uses(tmp_path):
    import torch

    model = torch.jit.trace(torch.nn.Conv2d(3, 4, 1).eval(), torch.randn(1, 3, 8, 8))
    torch.jit.save(model, str(tmp_path / "small.pt"))
    args = ["small.pt", "-i", "1x3x8x8", "-q", "--format", "neuralnetwork", "-o", "small.mlmodel"]
    done, modules = _imported(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "small.mlmodel").stat().st_size > 0
    seen = {"torch", "coremltools", "onnxruntime", "bridgec.driver.check"}  # the probe sees the run
    assert seen <= modules, seen - modules
    imported = {name: why for name, why in NOT_FOR_A_DEFAULT_NEURALNETWORK.items() if name in modules}
    assert not imported, f"imported though only needed for: {imported}"


@pytest.mark.parametrize("command", [["--help"], ["targets"]])
def test_help_and_targets_import_no_numerical_library(tmp_path, command):
    """They print text: numpy, onnx and what builds a report (the capability tables, networkx) wait
    for a command that converts."""
    done, modules = _imported(command, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
    heavy = {"numpy", "onnx", "onnx_graphsurgeon", "networkx", "bridgec.driver.report"} & modules
    assert not heavy, heavy
