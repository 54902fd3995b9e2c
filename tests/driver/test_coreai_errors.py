"""``--format coreai``'s bad input (issue 19): a target below iOS 27, every ``--compress`` mode, an op
no Core AI emitter or rule converts — one line naming what is wrong and the fix, exit 1/2, nothing
written. Also ``bridgec verify --format coreai``, the model saved once, the coverage column and the
batch runner. Needs coreai-core (``pip install bridgec[coreai]``; CI installs it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bridgec.backends.coreml.compress import MODES
from bridgec.driver.cli import main

pytest.importorskip("coreai.authoring", reason="coreai-core is not installed (pip install bridgec[coreai])")


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _onnx(path: Path, nodes, shape=(2, 3, 3), out_shape=(2,)) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture
def relu_model(tmp_path) -> Path:
    return _onnx(
        tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"], name="relu0")], out_shape=(2, 3, 3)
    )


def _one_line_nothing_written(code: int, err: str, folder: Path, expected_code: int, *needles: str) -> str:
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert [p.name for p in folder.iterdir() if p.suffix != ".onnx"] == []  # no model, no staging left
    return lines[0]


@pytest.mark.parametrize("target", ["iOS18", "macOS15", "iOS26"])
def test_target_below_ios27_is_refused(target, relu_model, capsys):
    code, _, err = run_cli([relu_model, "--format", "coreai", "--target", target], capsys)
    _one_line_nothing_written(code, err, relu_model.parent, 2, "--target iOS27 or macOS27", repr(target))


@pytest.mark.parametrize("mode", list(MODES))
def test_every_compress_mode_is_refused_naming_what_is_supported(mode, relu_model, capsys):
    code, _, err = run_cli([relu_model, "--format", "coreai", "--compress", mode], capsys)
    line = _one_line_nothing_written(code, err, relu_model.parent, 2, f"--compress {mode}", "supported: none")
    assert "--format mlprogram" in line


def test_a_scalar_input_is_refused_before_apples_runtime_dies_on_it(tmp_path, capsys):
    """coreai-core's runtime dies (SIGILL) loading a model with a rank-0 input: refused in one line."""
    model = _onnx(tmp_path / "s.onnx", [helper.make_node("Relu", ["x"], ["y"])], shape=(), out_shape=())
    code, _, err = run_cli([model, "--format", "coreai"], capsys)
    _one_line_nothing_written(code, err, tmp_path, 1, "'x' is a scalar")


def test_op_core_ai_lacks_names_node_op_and_the_core_ai_fix(tmp_path, capsys):
    """Det: no Core AI op, no rule, no bundled kernel. The advice is Core AI's, not Core ML's."""
    model = _onnx(
        tmp_path / "det.onnx",
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu0"),
            helper.make_node("Det", ["r"], ["y"], name="det0"),
        ],
    )
    code, _, err = run_cli([model, "--format", "coreai"], capsys)
    line = _one_line_nothing_written(
        code, err, tmp_path, 1, "Det x1", "nodes: det0", "Core AI", "passes/lower/"
    )
    assert (
        "--allow-missing-kernels" not in line and "neuralnetwork" not in line and "MLCustomLayer" not in line
    )


def test_verify_runs_the_aimodel_in_apples_runtime(relu_model, capsys):
    code, out, err = run_cli(["verify", relu_model, "--format", "coreai", "--per-node"], capsys)
    assert code == 0, err
    for runtime in (
        "onnxruntime, before passes",
        "onnxruntime, after -O lower-custom",
        "Core AI, Apple's runtime",
    ):
        assert runtime in out, out
    assert out.strip().splitlines()[-1] == "all 2 comparisons PASS"
    assert [p.name for p in relu_model.parent.iterdir()] == ["m.onnx"]


def test_verify_refuses_a_target_below_ios27(relu_model, capsys):
    code, _, err = run_cli(["verify", relu_model, "--format", "coreai", "--target", "iOS17"], capsys)
    _one_line_nothing_written(code, err, relu_model.parent, 2, "--target iOS27 or macOS27")


def test_model_is_saved_once_and_the_checked_folder_is_written(relu_model, capsys, monkeypatch):
    from bridgec.backends.coreai import builder

    saves = []
    real = builder.BuiltProgram.save
    monkeypatch.setattr(
        builder.BuiltProgram, "save", lambda self, path: saves.append(path) or real(self, path)
    )
    code, out, err = run_cli([relu_model, "--format", "coreai"], capsys)
    assert code == 0, err
    assert len(saves) == 1 and saves[0].name == "m.aimodel"
    assert saves[0].parent.parent.parent == relu_model.parent  # saved in a staging folder beside it
    assert sorted(p.name for p in relu_model.parent.iterdir()) == ["m.aimodel", "m.onnx"]
    assert "checked: 1 output" in out


def test_coverage_has_a_core_ai_column(capsys):
    from bridgec.driver import coverage

    cov = coverage.classify("iOS27", "coreai")
    rows = {o.op: o for o in cov.ops}
    assert rows["Relu"].status == "native" and rows["Relu"].how == "coreai.relu"
    assert rows["Det"].status == "unsupported" and "Core AI op" in rows["Det"].how
    assert cov.headline().split(", Core AI for iOS27 runs ")[1]
    assert main(["coverage", "--format", "coreai", "--report-format", "json"]) == 0
    assert '"target": "Core AI for iOS27"' in capsys.readouterr().out


def test_node_tests_run_in_apples_runtime():
    """A sample of ONNX's node tests through bridgec's Core AI backend and Apple's runtime (one child)."""
    from bridgec.driver.node_tests import run_node_tests

    results = {
        t.name: t
        for t in run_node_tests(
            "iOS27", r"^test_(relu|softmax_axis_1|maxpool_2d_pads|det_2d)$", format="coreai"
        )
    }
    assert {n: t.outcome for n, t in results.items()} == {
        "test_det_2d": "skipped",
        "test_maxpool_2d_pads": "passed",
        "test_relu": "passed",
        "test_softmax_axis_1": "passed",
    }, results


def test_a_wrong_core_ai_result_is_a_failure(monkeypatch):
    """The node tests compare Apple's runtime's numbers: a model computing something else fails."""
    from bridgec.backends.coreai import run
    from bridgec.driver import node_tests

    real = run.run_batch
    monkeypatch.setattr(
        run, "run_batch", lambda jobs, **kw: [{k: v + 1 for k, v in r.items()} for r in real(jobs, **kw)]
    )
    (test,) = node_tests.run_node_tests("iOS27", r"^test_relu$", format="coreai")
    assert test.outcome == "failed" and "max abs error" in test.reason


def test_batch_survives_a_model_that_aborts_the_runtime(relu_model, tmp_path, capsys):
    """A corrupted .aimodel aborts Apple's runtime (exit 134): that job fails in one line, the others run."""
    from bridgec.backends.coreai.run import CoreAIRunError, run_batch

    code, _, err = run_cli([relu_model, "--format", "coreai", "--no-check"], capsys)
    assert code == 0, err
    good = relu_model.with_suffix(".aimodel")
    bad = tmp_path / "bad.aimodel"
    bad.mkdir()
    for part in good.iterdir():
        data = bytearray(part.read_bytes())
        if part.name == "main.mlirb":
            data[len(data) // 2] ^= 0xFF
            data[20] ^= 0xFF
        (bad / part.name).write_bytes(bytes(data))
    x = np.linspace(-1, 1, 18, dtype=np.float32).reshape(2, 3, 3)
    results = run_batch([(good, {"x": x}), (bad, {"x": x}), (good, {"x": -x}), (good, {"z": x})])
    assert np.array_equal(results[0]["y"], np.maximum(x, 0)) and np.array_equal(
        results[2]["y"], np.maximum(-x, 0)
    )
    assert (
        isinstance(results[1], CoreAIRunError)
        and "crashed" in str(results[1])
        and "\n" not in str(results[1])
    )
    assert isinstance(results[3], CoreAIRunError) and "z" in str(results[3])


def test_targets_lists_the_core_ai_column(capsys):
    assert main(["targets", "--report-format", "json"]) == 0
    rows = {" / ".join(r["names"]): r["formats"] for r in json.loads(capsys.readouterr().out)}
    assert rows["iOS27 / macOS27"]["coreai"].startswith("yes") and rows["iOS27 / macOS27"][
        "mlprogram"
    ].startswith("no")
    assert rows["iOS15 / macOS12 / tvOS15 / watchOS8"]["coreai"].startswith("no: Core AI starts with iOS27")
    assert rows["iOS13 / macOS10.15 / tvOS13 / watchOS6"]["mlprogram"].startswith("no")
