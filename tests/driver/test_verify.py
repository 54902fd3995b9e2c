"""``bridgec verify``: three runtimes agree on the example, and planted faults are found and located."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest

from bridgec.backends.coreml import neuralnetwork_layers as ops
from bridgec.driver.cli import main
from bridgec.driver.verify import compare, verify


def tiny_onnx(tmp_path):
    path = tmp_path / "tiny.onnx"
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 13]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) '
            "<float lo = {0.0}, float hi = {6.0}> { a = Mul (x, x) b = Clip (a, lo, hi) c = Relu (x) y = Sub (b, c) }"
        ),
        str(path),
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["lower", "custom"])
def test_example_passes_in_all_runtimes_and_replays(mode, faceseg_path, tmp_path, capsys):
    saved_in, saved_out = tmp_path / "in.npz", tmp_path / "out.npz"
    code = main(
        [
            "verify",
            str(faceseg_path),
            "-i",
            "x:1x3x256x256",
            "-O",
            mode,
            "--per-node",
            "-q",
            "--save-inputs",
            str(saved_in),
            "--save-outputs",
            str(saved_out),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert len([line for line in out.splitlines() if line.endswith("  PASS")]) == 3
    assert "all 3 comparisons PASS" in out
    assert out.count("Core ML runtime: not available here") == 1
    assert "first divergence" not in out
    with np.load(saved_out) as data:
        assert set(data.files) == {
            "pytorch.output",
            "onnx_before.output",
            "onnx_after.output",
            "coreml_reference.output",
        }
        first = data["coreml_reference.output"]
    # replaying the saved inputs gives the same numbers
    result = verify(faceseg_path, inputs={"x": (1, 3, 256, 256)}, pipeline=mode, feeds_file=saved_in)
    np.testing.assert_array_equal(result.outputs["coreml_reference"]["output"], first)


def test_planted_ml_program_fault_is_located_at_its_node(tmp_path, monkeypatch):
    """The same through the ML Program emitter and executor: MIL names map back to the ONNX tensors."""
    from bridgec.backends.coreml import mlprogram_ops as mil

    table = mil.table()
    relu = table[("", "Relu")]
    monkeypatch.setitem(table, ("", "Relu"), dataclasses.replace(relu, emit=mil.unary("sigmoid")))
    result = verify(tiny_onnx(tmp_path), pipeline="lower", per_node=True, format="mlprogram")
    assert [c.runtime for c in result.comparisons if not c.passed] == ["coreml_reference"]
    (found,) = result.divergences
    assert (found.stage, found.op, found.tensor) == ("onnx_after -> coreml_reference", "Relu", "c")


def test_planted_backend_fault_is_located_at_its_node(tmp_path, monkeypatch):
    table = ops.table()
    relu = table[("", "Relu")]

    def wrong(ctx, node):  # emits sigmoid where relu belongs
        ctx.builder.add_activation(node.name, "SIGMOID", ctx.blob(node.inputs[0]), node.outputs[0].name)

    monkeypatch.setitem(table, ("", "Relu"), dataclasses.replace(relu, emit=wrong))
    result = verify(tiny_onnx(tmp_path), pipeline="lower", per_node=True, format="neuralnetwork")
    assert not result.passed
    failed = [c.runtime for c in result.comparisons if not c.passed]
    assert failed == ["coreml_reference"]
    (found,) = result.divergences
    assert (found.stage, found.op, found.tensor) == ("onnx_after -> coreml_reference", "Relu", "c")


def test_planted_pass_fault_is_located_at_its_node(tmp_path, monkeypatch):
    from bridgec.passes.lower import hardtanh

    def wrong_clip(op, x, lo, hi):  # the bounds are ignored: a plausible-looking, wrong rewrite
        return op.Clip(x, op.const(0.5), op.const(1.0))

    swapped = tuple(
        dataclasses.replace(r, replacement=wrong_clip) if r.name == "hardtanh_to_relu" else r
        for r in hardtanh.LowerHardTanh.rules
    )
    monkeypatch.setattr(hardtanh.LowerHardTanh, "rules", swapped)
    path = tmp_path / "relu_clip.onnx"  # Clip(x, 0) is a Relu: the rule under test fires on it
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 13]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) '
            "<float lo = {0.0}> { a = Mul (x, x) b = Clip (a, lo) y = Sub (b, x) }"
        ),
        str(path),
    )
    result = verify(path, pipeline="lower", per_node=True)
    assert [c.runtime for c in result.comparisons if not c.passed] == ["onnx_after", "coreml_reference"]
    assert result.divergences[0].stage == "onnx_before -> onnx_after"
    assert result.divergences[0].tensor == "b"


def test_onnx_source_uses_the_source_graph_as_reference(tmp_path, capsys):
    assert main(["verify", str(tiny_onnx(tmp_path)), "-q"]) == 0
    out = capsys.readouterr().out
    assert "reference: onnxruntime, before passes" in out and "no PyTorch model" in out


def test_bad_inputs_file_is_a_usage_error(tmp_path, capsys):
    np.savez(tmp_path / "wrong.npz", image=np.zeros((1, 3, 4, 4), np.float32))
    assert main(["verify", str(tiny_onnx(tmp_path)), "--inputs", str(tmp_path / "wrong.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1] == f"bridgec: error: --inputs {tmp_path / 'wrong.npz'} has no array named 'x' (it has: image)"
    )


@pytest.mark.parametrize(
    "got, want, ok",
    [
        ([1.0, 2.0], [1.0, 2.0], True),
        ([1.0, 2.0001], [1.0, 2.0], True),  # 1e-4 off on an output of scale 2: 5e-5 relative
        ([1.0, 2.001], [1.0, 2.0], False),  # 5e-4 relative
        ([1e-9, 2.0], [2e-9, 2.0], True),  # relative to the output's scale, not to each element
        ([1e-7], [2e-7], False),  # a tiny output is judged on its own scale
        ([np.nan], [np.nan], True),
        ([np.nan], [1.0], False),
        ([1.0], [np.inf], False),
        ([[1.0]], [1.0], False),
    ],
)
def test_compare(got, want, ok):
    assert compare(np.array(got), np.array(want), 1e-4)[2] is ok
