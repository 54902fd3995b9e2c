"""LogSoftmax and CumSum lowering rules (passes/lower/math.py): the op types after, numbers equal
to onnxruntime on the original graph (after lowering, and in the emitted Core ML model), and the
cases where a rule must not fire."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.neuralnetwork import build_spec
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph

X = (np.random.default_rng(5).standard_normal((2, 3, 4, 5)) * 30).astype(np.float32)


class Everything:
    """A target that runs every op as it is (an ML Program with the op native, say)."""

    description = "a target with every op"

    def unsupported_reason(self, node):
        return None


def model(body: str, opset: int) -> str:
    return (
        f'<ir_version: 8, opset_import: ["" : {opset}]> g (float[2,3,4,5] x) => (float[2,3,4,5] y) '
        f"{{\n {body}\n}}"
    )


# (body, opset, target, avoided, op types after)
CASES = {
    "log_softmax_18": ("y = LogSoftmax (x)", 18, "iOS14", (), ["ReduceLogSumExp", "Sub"]),
    "log_softmax_13_axis": ("y = LogSoftmax <axis = 1> (x)", 13, "iOS13", (), ["ReduceLogSumExp", "Sub"]),
    # log(softmax) underflows to -inf below exp(-87): the fallback form, for small logits only
    "log_softmax_no_lse": (
        "y = LogSoftmax <axis = 2> (x)",
        18,
        "iOS14",
        ("ReduceLogSumExp",),
        ["Log", "Softmax"],
    ),
    "cumsum_last_ios13": (
        "a = Constant <value = int64 {-1}> ()\n y = CumSum (x, a)",
        14,
        "iOS13",
        (),
        ["MatMul"],
    ),
    "cumsum_axis1_exclusive_reverse_ios13": (
        "a = Constant <value = int64 {1}> ()\n y = CumSum <exclusive = 1, reverse = 1> (x, a)",
        14,
        "iOS13",
        (),
        ["MatMul", "Transpose", "Transpose"],
    ),
    "neg_avoided": ("y = Neg (x)", 18, "iOS14", ("Neg",), ["Mul"]),
    "neg_native": ("y = Neg (x)", 18, "iOS14", (), ["Neg"]),
    "reciprocal_neuralnetwork": ("y = Reciprocal (x)", 18, "iOS13", (), ["Div"]),  # no exact layer
    "softsign_avoided": ("y = Softsign (x)", 18, "iOS14", ("Softsign",), ["Abs", "Add", "Div"]),
    "cumsum_native_ios14": (
        "a = Constant <value = int64 {2}> ()\n y = CumSum (x, a)",
        14,
        "iOS14",
        (),
        ["Constant", "CumSum"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_rule_form_and_numbers(case):
    body, opset, target, avoid, expected = CASES[case]
    graph = graph_from_text(model(body, opset))
    x = X / 30 if case == "log_softmax_no_lse" else X
    want = run_graph(graph, {"x": x})[0]
    before = graph.copy()
    caps = capabilities_for(target, avoid)
    lowered = passes.Pipeline([passes.LowerMath(), passes.LegalizeReciprocal()]).run(graph, target=caps)
    assert op_types(lowered) == expected
    assert_io_kept(before, lowered)
    assert_matches(run_graph(lowered, {"x": x})[0], want, tolerance=1e-7)
    got = run_coreml(build_spec(lowered, caps.target), {"x": x})["y"]
    assert_matches(got, want, tolerance=1e-7)


@pytest.mark.parametrize(
    "body", ["y = LogSoftmax (x)", "a = Constant <value = int64 {2}> ()\n y = CumSum (x, a)"]
)
def test_rules_do_not_fire_where_the_op_is_native(body):
    graph = graph_from_text(model(body, 18))
    before = op_types(graph)
    lowered = passes.Pipeline([passes.LowerMath()]).run(graph, target=Everything())
    assert op_types(lowered) == before


def test_cumsum_with_a_runtime_axis_stays():
    text = (
        '<ir_version: 8, opset_import: ["" : 14]> g (float[2,3,4,5] x, int64 a) => (float[2,3,4,5] y) '
        "{\n y = CumSum (x, a)\n}"
    )
    context = passes.PassContext(capabilities=capabilities_for("iOS13"))
    lowered = passes.LowerMath()(graph_from_text(text), context).graph
    assert op_types(lowered) == ["CumSum"]
    assert "run time" in context.near_misses["lower::math/cumsum_to_matmul"].reason


def test_lowering_is_in_the_lowering_pipelines():
    for name in ("lower", "lower-custom"):
        assert "lower::math" in passes.PIPELINES[name] and "lower::einsum" in passes.PIPELINES[name]
