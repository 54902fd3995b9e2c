"""Kept ops as Core AI custom kernels: ``-O custom --format coreai`` writes each as a
``coreai.metal4_kernel`` whose Metal source is the Metal 4 adapter of runtime_kernels/Metal/ (read
back from the saved ``.aimodel``), the source inside the model computes what the op's numpy
reference computes (compiled as C++ by tools/metal_linux), and the check runs the model in bridgec's
executor, saying so (Apple's runtime cannot run a metal4_kernel on Linux)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bridgec.backends.coreai import executor, kernels
from bridgec.backends.coreai.executor import ExecutorError, OpCall
from bridgec.driver.cli import main
from bridgec.runtime_kernels import catalog, metal4
from tests.helpers import load_tool

# The kept ops of the model below, with the parameters its torch code gives them.
KEPT = {"HardTanh": {"min_value": -1.0, "max_value": 0.5}, "Elu": {"alpha": 0.7}, "Mish": {}}


class Kept(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 10)

    def forward(self, x):
        y = self.linear(x)
        return F.hardtanh(y, -1, 0.5) + F.elu(y, 0.7) * F.mish(y)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The model converted with -O custom: (.aimodel path, CLI stdout, JSON report)."""
    folder = tmp_path_factory.mktemp("kernels")
    torch.manual_seed(0)
    model = folder / "kept.pt"
    torch.jit.save(torch.jit.trace(Kept().eval(), torch.randn(2, 6)), str(model))
    out, report = folder / "kept.aimodel", folder / "report.json"
    args = [model, "--format", "coreai", "-O", "custom", "--input", "2x6", "-o", out, "--report-json", report]
    code = main([str(a) for a in args])
    assert code == 0
    return out, json.loads(report.read_text())


def _kernel_steps(model: Path):
    return [s for s in executor.load(model).steps if s.name == f"coreai.{kernels.OP}"]


def test_each_kept_op_is_a_metal4_kernel_with_the_generated_source(converted):
    model, _ = converted
    steps = _kernel_steps(model)
    by_name = {s.attributes["kernel_name"]: s.attributes["kernel_source"] for s in steps}
    assert len(steps) == len(KEPT) == len(by_name)
    for class_name, params in KEPT.items():
        spec = catalog.KERNELS[class_name]
        want = metal4.metal4_kernel(spec, metal4.function_for(spec, params))
        # the name is bridgec's own (no random suffix), and the source is the adapter's, byte for byte
        assert by_name[want.name] == want.source, class_name


def test_the_report_and_the_check_say_how_the_kernels_were_checked(converted, capsys):
    _, report = converted
    rows = {r["op"]: r for r in report["rows"] if r["status"] == "custom"}
    assert sorted(rows) == sorted(f"ai.bridgec::{name}" for name in KEPT)
    for row in rows.values():
        assert row["kernel"] == kernels.KINDS and "not executable on Linux" in row["how"]
        assert "coreai.metal4_kernel bridgec_" in row["how"]
    check = report["check"]
    assert check["status"] == "checked", check
    notes = " ".join(check.get("notes", []))
    assert "bridgec's executor only" in notes and "float16" in notes, check


def test_the_source_inside_the_model_computes_the_reference(converted, tmp_path):
    """The MSL-as-C++ path on the Metal source read back from the .aimodel, not on a regenerated one."""
    run4 = load_tool("tools/metal_linux/metal4_run.py")
    cxx = run4.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) to compile the Metal kernels as C++")
    model, _ = converted
    read = {s.attributes["kernel_name"]: s.attributes["kernel_source"] for s in _kernel_steps(model)}
    rng = np.random.default_rng(7)
    cases, refs = [], []
    for class_name, params in KEPT.items():
        spec = catalog.KERNELS[class_name]
        want = metal4.metal4_kernel(spec, metal4.function_for(spec, params))
        inside = metal4.Metal4Kernel(want.name, read[want.name], want.scalars, want.element)
        x = (rng.standard_normal(61) * 3).astype(np.float32)
        cases.append((inside, params, x))
        refs.append((spec, spec.reference(x.astype(np.float16), **params)))
    exe = run4.build(cxx, tmp_path, [k for k, _, _ in cases])
    for (kernel, _, _), got, (spec, ref) in zip(cases, run4.run(exe, cases), refs, strict=True):
        atol, rtol = spec.float16_tolerance
        np.testing.assert_allclose(got, ref.astype(np.float32), rtol=rtol, atol=atol, err_msg=kernel.name)


def _call(name: str, source: str, x: np.ndarray, *scalars) -> OpCall:
    return OpCall(
        f"coreai.{kernels.OP}",
        [x, *scalars, np.zeros(3, np.uint32), np.zeros(3, np.uint32), np.array([x.size], np.uint32)],
        {"kernel_name": name, "kernel_source": source},
        [((x.size,), np.dtype(np.float32))],
        segments=(1 + len(scalars), 1, 1, 1),
    )


def test_the_executor_runs_only_bridgecs_own_kernels():
    spec = catalog.KERNELS["LeakyRelu"]
    kernel = metal4.metal4_kernel(spec, "leakyrelu")
    x = np.array([-2.0, -0.5, 0.0, 3.0, np.nan], np.float32)
    got = kernels.execute(_call(kernel.name, kernel.source, x, np.float32(0.25)))
    np.testing.assert_array_equal(got, np.array([-0.5, -0.125, 0.0, 3.0, np.nan], np.float32))
    with pytest.raises(ExecutorError, match="not one bridgec writes"):
        kernels.execute(_call("someone_elses", kernel.source, x, np.float32(0.25)))
    with pytest.raises(ExecutorError, match="other than bridgec's generated one"):
        kernels.execute(_call(kernel.name, kernel.source + "// edited\n", x, np.float32(0.25)))
