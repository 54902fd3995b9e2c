"""State (iOS 18 MLState): a .pt2 whose forward writes a registered buffer becomes a stateful ML
Program, checked over calls in sequence; what cannot hold state is refused in one line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bridgec.backends.coreml import state as coreml_state
from bridgec.backends.coreml.executor.errors import InputError
from bridgec.backends.coreml.executor.mlprogram import new_state, run_mlprogram
from bridgec.core.errors import ConversionError
from bridgec.core.state import StateBuffer, set_state, state_of
from bridgec.driver import check as check_mod
from bridgec.driver.cli import main
from bridgec.driver.convert import convert
from examples import stateful
from tests.helpers import graph_from_text


def _save(program_or_module, path, example):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(program_or_module, torch.nn.Module):
            program_or_module = torch.export.export(program_or_module, example)
        torch.export.save(program_or_module, str(path))
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stateful")
    return {
        name: (path, convert(path, target="iOS18", write=False))
        for name in ("running", "kvcache")
        for path in [stateful.save(folder / f"{name}.pt2", name)]
    }


@pytest.mark.parametrize(
    "name, states",
    [
        ("running", {"total": (4,), "count": (1,)}),
        ("kvcache", {"k_cache": (1, 8, 16), "v_cache": (1, 8, 16)}),
    ],
)
def test_written_buffers_become_core_ml_state(converted, name, states):
    _, result = converted[name]
    spec = result.spec
    assert result.format == "mlprogram"
    # as ct.convert writes a torch model with states=[ct.StateType(...)]: described as state, fp16
    described = {f.name: f.type.stateType.arrayType for f in spec.description.state}
    assert {n: tuple(a.shape) for n, a in described.items()} == states
    assert all(a.dataType == a.FLOAT16 for a in described.values())
    assert [f.name for f in spec.description.input] == ["x"]
    assert [f.name for f in spec.description.output] == ["output"]  # the new values are written, not returned
    function = spec.mlProgram.functions["main"]
    assert [(i.name, i.type.WhichOneof("type")) for i in function.inputs] == [("x", "tensorType")] + [
        (n, "stateType") for n in states
    ]
    ops = [op.type for op in function.block_specializations[function.opset].operations if op.type != "const"]
    assert ops[: len(states)] == ["read_state"] * len(states)
    assert ops.count("write_state") == len(states) and ops[-1] == "write_state"
    assert result.check.status == check_mod.CHECKED
    assert "3 calls in sequence, state compared after each" in result.check.line()
    assert {f"state {n}" for n in states} <= {o.name for o in result.check.outputs}


def test_each_call_continues_from_the_last_state(converted):
    path, result = converted["running"]
    program = torch.export.load(str(path))
    module = program.module()
    model = (result.spec, result.model.mlmodel.weights_dir)
    state = new_state(model)
    assert all(not v.any() and v.dtype == np.float16 for v in state.values())  # MLModel.makeState(): zeros
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(2):
        x = rng.standard_normal((2, 4)).astype(np.float32)
        got = run_mlprogram(model, {"x": x}, state=state)["output"]
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2)
        np.testing.assert_allclose(state["count"], module.count.numpy(), rtol=1e-3)
        np.testing.assert_allclose(state["total"], module.total.numpy(), rtol=2e-2, atol=2e-2)
        seen.append({k: v.copy() for k, v in state.items()})
    assert seen[0]["count"][0] == 2 and seen[1]["count"][0] == 4  # the write of call 1 was kept
    assert not np.array_equal(seen[0]["total"], seen[1]["total"])


def test_executor_needs_a_state_for_a_stateful_model(converted):
    _, result = converted["running"]
    model = (result.spec, result.model.mlmodel.weights_dir)
    with pytest.raises(InputError, match="the model has state total, count: run it with one"):
        run_mlprogram(model, {"x": np.zeros((2, 4), np.float32)})


def test_a_dropped_state_update_fails_the_check(tmp_path, monkeypatch):
    path = stateful.save(tmp_path / "running.pt2", "running")
    monkeypatch.setattr(coreml_state, "update_states", lambda ctx, inputs: None)
    with pytest.raises(
        check_mod.CheckFailed, match=r"'state (total|count)' differs from PyTorch after call 1 of 3"
    ):
        convert(path, target="iOS18", write=False)


def test_a_buffer_registered_nonzero_starts_there_and_says_so(tmp_path):
    class RunningMax(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("peak", torch.full((3,), -4.0))

        def forward(self, x):
            self.peak.copy_(torch.maximum(self.peak, x))
            return x - self.peak

    path = _save(RunningMax(), tmp_path / "peak.pt2", (torch.randn(3),))
    result = convert(path, target="iOS18", write=False)
    assert result.check.status == check_mod.CHECKED
    assert "state peak starts at the buffer's registered values, not Core ML's zeros" in result.check.line()


class _Counter(torch.nn.Module):
    def __init__(self, dtype=torch.float32) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(1, dtype=dtype))

    def forward(self, x):
        self.count.add_(1)
        return x * 2


class _SetsFlag(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("flag", torch.zeros(1))

    def forward(self, x):
        self.flag.fill_(1.0)
        return x * self.flag


class _WritesInput(torch.nn.Module):
    def forward(self, x):
        x.add_(1)
        return x * 2


@pytest.mark.parametrize(
    "make, args, message",
    [
        ("pt2", [], "target iOS15 has none: use --target iOS18"),
        ("pt2", ["--target", "iOS17"], "target iOS17 has none: use --target iOS18"),
        (
            "pt2",
            ["--target", "iOS18", "--format", "neuralnetwork"],
            "which only an ML Program holds; drop --format neuralnetwork",
        ),
        (
            "torchscript",
            ["--input", "x:2", "--target", "iOS18"],
            "records no mutation (state needs it); export with torch.export.export and save a .pt2",
        ),
        ("int64", ["--target", "iOS18"], "buffer 'count' is int64; Core ML state holds float16 only"),
        ("input", ["--target", "iOS18"], "writes its input x in place; Core ML inputs are read-only"),
        ("constant", ["--target", "iOS18"], "sets buffer flag to the same value on every call"),
    ],
)
def test_what_cannot_hold_state_is_one_line_exit_2(make, args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if make == "torchscript":
        path = tmp_path / "counter.pt"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.script(_Counter()), str(path))
    else:
        module = {
            "pt2": _Counter(),
            "int64": _Counter(torch.int64),
            "input": _WritesInput(),
            "constant": _SetsFlag(),
        }[make]
        path = _save(module, tmp_path / "counter.pt2", (torch.randn(2),))
    code = main([str(path), *args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing written


def test_passes_keep_the_state_pairing():
    from bridgec import passes
    from bridgec.backends.coreml import capabilities_for

    graph = graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[2] x, float[2] s) => (float[2] y, float[2] s_next) '
        "{ t = Identity (s) s_next = Add (t, x) y = Relu (s_next) }"
    )
    set_state(graph, [StateBuffer("s", "s", "s_next")])
    cleaned = passes.Pipeline([passes.cleanup()]).run(graph, target=capabilities_for())
    assert state_of(cleaned) == (StateBuffer("s", "s", "s_next"),)
    assert state_of(cleaned.copy()) == state_of(cleaned)  # graphsurgeon's copy keeps it

    class Forgets(passes.Pass):
        id = "test::forgets_state"

        def call(self, graph, ctx):
            graph.doc_string = ""
            return passes.PassResult(graph, True)

    with pytest.raises(ConversionError, match="changed the graph's inputs or outputs"):
        passes.Pipeline([Forgets()]).run(graph, target=capabilities_for())


def test_a_cache_written_at_a_position_input(tmp_path):
    class CacheAt(torch.nn.Module):  # self.cache[:, pos] = k: an index_put at an integer input
        def __init__(self) -> None:
            super().__init__()
            self.k = torch.nn.Linear(8, 8)
            self.register_buffer("cache", torch.zeros(1, 4, 8))

        def forward(self, x, pos):
            self.cache[:, pos] = self.k(x)
            return torch.softmax(x @ self.cache.transpose(1, 2), -1) @ self.cache

    torch.manual_seed(0)
    path = _save(CacheAt().eval(), tmp_path / "cache_at.pt2", (torch.randn(1, 1, 8), torch.tensor([1])))
    result = convert(path, target="iOS18", write=False)
    assert [f.name for f in result.spec.description.state] == ["cache"]
    assert result.check.status == check_mod.CHECKED and "state cache" in {
        o.name for o in result.check.outputs
    }


def test_verify_sends_stateful_models_to_the_sequence_check(tmp_path, capsys):
    path = stateful.save(tmp_path / "running.pt2", "running")
    assert main(["verify", str(path), "--target", "iOS18"]) == 2
    assert "runs single calls; convert it (bridgec running.pt2 --target iOS18)" in capsys.readouterr().err


def test_fp16_and_the_saved_package_keep_the_state(tmp_path):
    path = stateful.save(tmp_path / "kvcache.pt2", "kvcache")
    out = tmp_path / "kvcache.mlpackage"
    result = convert(path, target="iOS18", precision="fp16", output=out)
    assert result.check.status == check_mod.CHECKED
    state = new_state(out)  # the package as written, read back from disk
    assert {n: v.shape for n, v in state.items()} == {"k_cache": (1, 8, 16), "v_cache": (1, 8, 16)}
    x = np.random.default_rng(0).standard_normal((1, 1, 16)).astype(np.float32)
    run_mlprogram(out, {"x": x}, state=state)
    assert not state["k_cache"][0, :-1].any() and state["k_cache"][0, -1].any()  # this step came in last
