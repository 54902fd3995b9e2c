"""Per-target op coverage: statuses from the op table and rule registry, the ONNX backend, and the
generated docs/coverage.md and README numbers, which fail here when stale."""

from __future__ import annotations

import json
import unittest

import numpy as np
import onnx.backend.test
import pytest

from bridgec import passes
from bridgec.backends.coreml import neuralnetwork_layers as ops
from bridgec.driver import coverage, coverage_docs, node_tests
from bridgec.driver.cli import main
from bridgec.driver.onnx_backend import BridgecBackend, Unsupported
from bridgec.passes import Rule, RuleSet
from tests.conftest import ROOT

DOC = ROOT / "docs" / "coverage.md"
ML_DOC = ROOT / "docs" / "coverage-mlprogram.md"
AI_DOC = ROOT / "docs" / "coverage-coreai.md"
README = ROOT / "README.md"
STALE = "stale: run python tools/gen_coverage.py"


def _status(cov, op):
    return next(o for o in cov.ops if o.op == op)


def test_docs_are_current():
    """The operator tables and README numbers regenerate to what is committed (node-test results
    are taken from the committed document here; the slow test below reruns them)."""
    recorded, ml_recorded, ai_recorded = (
        coverage_docs.parse_tests(d.read_text()) for d in (DOC, ML_DOC, AI_DOC)
    )
    assert all(r and len(r) > 1000 for r in (recorded, ml_recorded, ai_recorded))
    main_cov, others = coverage_docs.generate(recorded, ml_recorded, ai_recorded)
    assert coverage_docs.document(main_cov, others) == DOC.read_text(), STALE
    assert coverage_docs.mlprogram_document(others) == ML_DOC.read_text(), STALE
    assert coverage_docs.coreai_document(others) == AI_DOC.read_text(), STALE
    assert coverage_docs.readme_block(main_cov, others) in README.read_text(), STALE


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram", "coreai"])
def test_node_test_results_are_current(fmt):
    doc, target = {
        "neuralnetwork": (DOC, coverage_docs.DOC_TARGET),
        "mlprogram": (ML_DOC, coverage_docs.ML_DOC_TARGET),
        "coreai": (AI_DOC, coverage_docs.AI_DOC_TARGET),
    }[fmt]
    recorded = coverage_docs.parse_tests(doc.read_text())
    fresh = node_tests.run_node_tests(target, format=fmt)
    changed = [(a, b) for a, b in zip(recorded, fresh, strict=False) if a != b]
    assert len(recorded) == len(fresh) and not changed, f"{STALE}; first change: {changed[:1]}"


def test_every_default_domain_op_has_one_row():
    cov = coverage.classify("iOS14")
    names = [o.op for o in cov.ops]
    assert names == sorted(set(names)) and len(names) == len(coverage.onnx_ops()) > 150
    assert sum(cov.counts().values()) == len(names)
    assert _status(cov, "Conv").status == "native" and "constant weights" in _status(cov, "Conv").restrictions
    assert (
        _status(cov, "HardSwish").status == "lowered"
        and "lower::kept_activations/" in _status(cov, "HardSwish").how
    )
    assert _status(cov, "Dropout").status == "removed"
    assert _status(cov, "Round").status == "unsupported"
    # exact Gelu: Core ML's gelu layer from iOS14, the bundled kernel before
    assert _status(cov, "Gelu").status == "native"
    assert _status(coverage.classify("iOS13"), "Gelu").status == "custom"


def test_every_checked_emitter_describes_its_restrictions():
    for key, emitter in ops.table().items():
        if emitter.check is not None:
            assert emitter.restrictions, f"{key}: add a 'Restrictions: ...' docstring to its check"


def test_status_follows_the_op_table(monkeypatch):
    table = dict(ops.table())
    del table[("", "Tanh")]
    monkeypatch.setattr(ops.TABLE, "entries", table)
    assert _status(coverage.classify("iOS14"), "Tanh").status == "unsupported"


def test_status_follows_the_rule_registry():
    def isinf(op, x):
        return op.IsInf(x)

    def as_infinite_magnitude(op, x):
        return op.Equal(op.Abs(x), op.const(float("inf")))

    class LowerIsInf(RuleSet):  # a true identity for IsInf's defaults (both signs detected)
        id = "test::isinf"
        extends = ("lower", "lower-custom")
        after = ("cleanup::*",)
        before = ("check::*", "custom::*")
        rules = (Rule("isinf_to_equal", isinf, as_infinite_magnitude, identity="isinf(x) -> |x| == inf"),)

    assert _status(coverage.classify("iOS14"), "IsInf").status == "unsupported"
    passes.register(LowerIsInf)
    try:
        found = _status(coverage.classify("iOS14"), "IsInf")
    finally:
        passes.REGISTRY.pop("test::isinf")
    assert found.status == "lowered" and "test::isinf/isinf_to_equal" in found.how


class MLProgramBackend(BridgecBackend):
    format = "mlprogram"


@pytest.mark.parametrize(
    "backend, missing",
    [(BridgecBackend, "no Core ML layer for this op"), (MLProgramBackend, "no MIL op for this op")],
)
def test_onnx_backend_test_harness_runs_bridgec(backend, missing):
    """onnx's own BackendTest drives the backend, in either format: a native op passes, an
    unsupported one is skipped with the reason."""
    suite = onnx.backend.test.BackendTest(backend, __name__)
    suite.include(r"^test_(relu|round|softmax_axis_1)_cpu$")
    with open("/dev/null", "w") as quiet:
        result = unittest.TextTestRunner(stream=quiet, verbosity=0).run(suite.test_suite)
    skipped = [
        (t.id().rsplit(".", 1)[-1], why) for t, why in result.skipped if why != "no matched include pattern"
    ]
    assert result.testsRun - (len(result.skipped) - len(skipped)) == 3
    assert not result.failures and not result.errors
    assert skipped == [("test_round_cpu", f"Round: {missing}, and no lowering rule or bundled kernel")]


def test_a_wrong_result_is_a_failure_not_a_skip(monkeypatch):
    (case,) = node_tests.load_node_tests(r"^test_relu$")
    assert node_tests.run_node_test(case) == ("passed", "")
    inputs, outputs = case.data_sets[0]
    case.data_sets[0] = (inputs, [outputs[0] + 1.0])
    outcome, reason = node_tests.run_node_test(case)
    assert outcome == "failed" and reason.startswith("output y: max abs error 1")


def test_deliberately_unsupported_input_is_a_skip():
    (case,) = node_tests.load_node_tests(r"^test_equal_uint8$")
    with pytest.raises(Unsupported, match="input 'x' is UINT8: Core ML features are float or int32"):
        BridgecBackend.prepare(case.model)


def test_run_node_is_the_backend_api():
    from onnx import helper

    node = helper.make_node("Relu", ["x"], ["y"])
    x = np.array([[-1.0, 2.0]], np.float32)
    (got,) = BridgecBackend.run_node(node, [x])
    np.testing.assert_array_equal(got, [[0.0, 2.0]])


def test_cli_coverage(capsys):
    assert main(["coverage", "--target", "iOS13", "--report-format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"] == "Core ML NeuralNetwork for iOS13" and data["node_tests"] is None
    assert sum(data["counts"].values()) == len(data["ops"])
    assert main(["coverage"]) == 0
    assert "Of the" in capsys.readouterr().out.splitlines()[-1]
    assert main(["coverage", "--target", "iOS9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown --target 'iOS9'" in err


def test_gen_coverage_check_names_a_stale_file(tmp_path, monkeypatch, capsys):
    from tools import gen_coverage

    doc, ml_doc, readme = tmp_path / "coverage.md", tmp_path / "coverage-mlprogram.md", tmp_path / "README.md"
    ai_doc = tmp_path / "coverage-coreai.md"
    doc.write_text(DOC.read_text())
    ml_doc.write_text(ML_DOC.read_text())
    ai_doc.write_text(AI_DOC.read_text())
    readme.write_text(README.read_text())
    for name, value in (
        ("DOC", doc),
        ("ML_DOC", ml_doc),
        ("AI_DOC", ai_doc),
        ("README", readme),
        ("ROOT", tmp_path),
    ):
        monkeypatch.setattr(gen_coverage, name, value)
    assert gen_coverage.main(["--check", "--static"]) == 0
    doc.write_text(doc.read_text().replace("| `Relu` | 14 | native |", "| `Relu` | 14 | lowered |"))
    readme.write_text(readme.read_text().replace("| NeuralNetwork, iOS14 |", "| NeuralNetwork, iOS15 |"))
    capsys.readouterr()
    assert gen_coverage.main(["--check", "--static"]) == 1
    out = capsys.readouterr().out
    assert "coverage.md is stale" in out and "README.md is stale" in out
    assert gen_coverage.main(["--static"]) == 0
    assert doc.read_text() == DOC.read_text() and readme.read_text() == README.read_text()
    assert ml_doc.read_text() == ML_DOC.read_text() and ai_doc.read_text() == AI_DOC.read_text()
