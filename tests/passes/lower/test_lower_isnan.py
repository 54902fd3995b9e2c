"""lower::isnan: neither Core ML format has IsNaN, which torch's exporter writes into attention (a
softmax row of -inf is masked with where(isnan(p), 0, p)); x != x is it exactly (IEEE 754). The
numbers on NaN, +-inf, zeros and ordinary values: onnxruntime on the original node against the
rewritten graph and the emitted model of each format."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from tests.helpers import graph_from_text, op_types, run_graph
from tests.passes.lower.legalize_cases import MLP, NN, emit_and_run

X = np.array([[np.nan, 1.0, -np.inf, np.inf], [0.0, -0.0, -np.nan, 3e38]], np.float32)
# the mask as the exporter uses it: a float result, so the emitted model's output is float32 too
TEXT = (
    '<ir_version: 8, opset_import: ["" : 18]> g (float[2,4] x) => (float[2,4] y) {\n'
    " m = IsNaN (x)\n zero = Constant <value = float {0.0}> ()\n y = Where (m, zero, x)\n}"
)


@pytest.mark.parametrize("fmt", [NN, MLP])
def test_isnan_is_x_unequal_to_itself(fmt):
    graph = graph_from_text(TEXT)
    (want,) = run_graph(graph, {"x": X})
    np.testing.assert_array_equal(want, np.where(np.isnan(X), 0, X))
    assert capabilities_for("iOS15", format=fmt).unsupported_reason(graph.nodes[0])
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    lowered = passes.pipeline("none").run(graph, context=context)
    assert context.rule_hits["lower::isnan/isnan_to_not_equal"] == 1
    assert "IsNaN" not in op_types(lowered) and {"Equal", "Not"} <= set(op_types(lowered))
    np.testing.assert_array_equal(run_graph(lowered, {"x": X})[0], want)
    np.testing.assert_array_equal(emit_and_run(lowered, fmt, {"x": X})["y"], want)
