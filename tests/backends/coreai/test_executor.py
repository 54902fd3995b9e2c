"""bridgec's own Core AI executor (``backends/coreai/executor``) against Apple's runtime and PyTorch.

Two independent readings of every emitter case (``test_emitters.py``, ``test_emitters_int.py``, with
their feeds) and of small programs written with Apple's authoring API for the ops the emitters do
not write yet (``executor_programs.py``): the executor reads the saved ``.aimodel`` back through
coreai-core's MLIR bindings and runs it with numpy semantics written from Apple's op docs; Apple's
runtime runs the same folder (all of them in one child process). They must agree tightly. Then the
fallback the check takes where Apple's runtime cannot run a model: a Metal kernel, an op
the executor lacks, and mobilenet_v2 end to end through the CLI with the fallback forced.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from coreai.authoring import TensorSpec, Value

from bridgec.backends.coreai import executor
from bridgec.backends.coreai.builder import build_program
from bridgec.backends.coreai.capabilities import capabilities_for
from bridgec.backends.coreai.inputs import coreai_feeds
from bridgec.backends.coreai.ops import TABLE
from bridgec.backends.coreai.run import run_batch
from tests.backends.coreai.executor_programs import PROGRAMS
from tests.backends.coreai.executor_programs import save as save_program
from tests.backends.coreai.test_emitters import CASES
from tests.backends.coreai.test_emitters import _case as emitter_case
from tests.backends.coreai.test_emitters_int import ATTENTION, GATHER, LOGIC
from tests.backends.coreai.test_emitters_int import HEAD as INT_HEAD
from tests.backends.coreai.test_emitters_int import _feeds as int_feeds
from tests.backends.coreai.test_emitters_int import _special as int_special
from tests.helpers import graph_from_text

ROOT = Path(__file__).resolve().parents[3]
# float results: the two readings round differently (the executor sums in float64), nothing more
RTOL, ATOL = 1e-5, 1e-6


# every model both readings run: each emitter case (emitter/<name>), each graph of the integer, bool
# and text emitters (int/<name>), and each program written with Apple's authoring API for the ops
# and operand forms the emitters do not reach yet (authored/<name>)
INT_GRAPHS = {"logic": LOGIC, "gather": GATHER, "attention": ATTENTION}
CROSS_CHECKED = (
    [f"emitter/{name}" for name in sorted(CASES)]
    + [f"int/{name}" for name in INT_GRAPHS]
    + [f"authored/{name}" for name in PROGRAMS]
)


def _job(key: str, path: Path, target) -> tuple[Path, dict[str, np.ndarray]]:
    """Build and save the model ``key`` names; its feeds (those of the emitter tests, as they make them)."""
    kind, name = key.split("/")
    if kind == "authored":
        return save_program(name, path)
    if kind == "emitter":
        graph, feeds = emitter_case(name)
    else:
        graph = graph_from_text(f"{INT_HEAD}\nagraph {INT_GRAPHS[name]}")
        graph.fold_constants().cleanup()
        feeds = int_feeds(graph)
        int_special(feeds)
        feeds = coreai_feeds(graph, feeds)  # int64 fed as the int32 the model declares
    build_program(graph, target, f"{name}.onnx").save(path)
    return path, feeds


@pytest.fixture(scope="module")
def apple(tmp_path_factory) -> dict[str, tuple[Path, dict, object]]:
    """Every cross-checked model built, saved, and run by Apple's runtime (one child for all of them)."""
    folder = tmp_path_factory.mktemp("executor")
    target = capabilities_for("iOS27").target
    jobs = [_job(key, folder / f"{key.replace('/', '-')}.aimodel", target) for key in CROSS_CHECKED]
    results = run_batch(jobs)
    return {
        key: (path, feeds, got) for key, (path, feeds), got in zip(CROSS_CHECKED, jobs, results, strict=True)
    }


@pytest.mark.parametrize("key", CROSS_CHECKED)
def test_executor_matches_apples_runtime(key: str, apple) -> None:
    path, feeds, want = apple[key]
    if isinstance(want, Exception):
        pytest.fail(f"Apple's runtime did not run {key}: {want}")
    got = executor.run(path, feeds)
    assert sorted(got) == sorted(want)
    for name, expected in want.items():
        assert got[name].dtype == expected.dtype and got[name].shape == expected.shape, (
            name,
            got[name].dtype,
        )
        if np.issubdtype(expected.dtype, np.floating):
            np.testing.assert_allclose(got[name], expected, rtol=RTOL, atol=ATOL, err_msg=f"{key}: {name}")
        else:
            np.testing.assert_array_equal(got[name], expected, err_msg=f"{key}: {name}")


def _written(op: str) -> str:
    """An emitter's ``coreai_ops`` entry as the op's MLIR name (the broadcasting ops are decomposable)."""
    return f"coreai.decomposable.{op}" if op.startswith("broadcasting_") else f"coreai.{op}"


def test_every_op_the_emitters_write_has_semantics() -> None:
    from bridgec.backends.coreai.executor.registry import load_families

    load_families()
    written = {_written(op) for emitter in TABLE.get().values() for op in emitter.coreai_ops}
    # a Metal kernel's semantics come from the kernel backend's registration (see the next tests)
    written.discard(executor.CUSTOM_KERNEL)
    assert sorted(written - set(executor.OPS)) == []


def test_an_op_the_executor_lacks_is_one_line(apple, monkeypatch) -> None:
    from bridgec.backends.coreai.executor.registry import load_families

    load_families()
    monkeypatch.delitem(executor.OPS, "coreai.relu")
    path, feeds, _ = apple["emitter/relu"]
    with pytest.raises(executor.ExecutorError) as caught:
        executor.run(path, feeds)
    message = str(caught.value)
    assert "the executor has no coreai.relu" in message and "\n" not in message


def _metal_model(path: Path) -> Path:
    """y = 2x through a ``coreai.metal4_kernel``, built as coreai-torch builds one (Apple's helper;
    the graph's annotations are read with ``get_type_hints``, hence the module-level imports)."""
    import coreai.authoring as ca
    from coreai._compiler.ir import F32Type, RankedTensorType
    from coreai.authoring import AIProgram, CustomMetalKernel, Module, OSVersion
    from coreai.authoring.constant import constant

    def main(
        x: Annotated[Value, TensorSpec((2, 4), np.float32)],
    ) -> Annotated[Value, TensorSpec((2, 4), np.float32, name="y")]:
        flat = ca.reshape(x, np.array([8], np.int32))
        helper = CustomMetalKernel("twice", ["x"], ["y"], src="y[gid] = 2 * x[gid];")
        sizes = (np.array([8, 1, 1], np.uint32), np.array([8, 1, 1], np.uint32), np.array([8], np.uint32))
        raw = [v._to_mlir() for v in (flat, *(constant(s) for s in sizes))]  # noqa: SLF001
        (out,) = helper._construct_kernel_op(raw, [RankedTensorType.get([8], F32Type.get())])  # noqa: SLF001
        return ca.reshape(Value._from_mlir(out), np.array([2, 4], np.int32))  # noqa: SLF001

    module = Module.create()
    with module:
        ca.graph(main)
    AIProgram(module).save_asset(path, minimum_os=OSVersion.v27)
    return path


def test_a_metal_kernel_runs_through_a_registered_implementation(tmp_path, monkeypatch) -> None:
    model = _metal_model(tmp_path / "twice.aimodel")
    assert "metal4_kernel" in executor.fallback_reason(model)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    # whatever this test registers is undone after it (a kernel backend's own registration comes back)
    monkeypatch.setitem(executor.OPS, executor.CUSTOM_KERNEL, None)
    monkeypatch.delitem(executor.OPS, executor.CUSTOM_KERNEL)
    with pytest.raises(executor.ExecutorError, match="the executor has no coreai.metal4_kernel"):
        executor.run(model, {"x": x})
    seen = []

    @executor.register(executor.CUSTOM_KERNEL)
    def twice(call: executor.OpCall) -> np.ndarray:
        seen.append(
            (call.attributes["kernel_name"], call.segments, [list(g[0].shape) for g in call.groups()])
        )
        return 2 * call.inputs[0]

    np.testing.assert_array_equal(executor.run(model, {"x": x})["y"], 2 * x)
    ((name, segments, shapes),) = seen
    assert name.startswith("twice_") and segments == (1, 1, 1, 1) and shapes == [[8], [3], [3], [1]]


def test_forced_fallback_checks_mobilenet_v2_by_the_executor_alone(tmp_path, capsys, monkeypatch) -> None:
    """mobilenet_v2 end to end: the CLI's check runs the written .aimodel in the executor (not in
    Apple's runtime) and compares it with PyTorch; the check line says so."""
    from bridgec.driver.cli import main

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import zoo
    finally:
        sys.path.remove(str(ROOT / "examples"))
    model = zoo.save("mobilenet_v2", tmp_path / "mobilenet_v2.pt")
    monkeypatch.setenv(executor.FORCE_ENV, "1")
    monkeypatch.setattr("bridgec.driver.convert_coreai.run_model", _never)
    code = main([str(model), "--format", "coreai", "--input", "1x3x224x224"])
    out, err = capsys.readouterr()
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("checked: 1 output, max rel err"), last
    assert "against PyTorch; checked by bridgec's executor only (Apple's runtime was not run:" in last
    assert f"{executor.FORCE_ENV}=1" in last
    assert (tmp_path / "mobilenet_v2.aimodel" / "main.mlirb").is_file()


def _never(*args, **kwargs):
    raise AssertionError("Apple's runtime was run although the executor fallback was forced")
