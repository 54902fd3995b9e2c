"""The error for a node left for a custom layer or unsupported says which rule would convert it
(issue 22, item 4): the rule that came closest and what stopped it, or that none matches the op."""

from __future__ import annotations

import pytest

from bridgec.core.errors import ConversionError
from tests.helpers import graph_from_text, run_pipeline

AFFINE_GRID = (
    '<ir_version: 8, opset_import: ["" : 20]> g (float[1,2,3] theta) => (float[1,4,5,2] y) {\n'
    " s = Constant <value = int64[4] {1, 1, 4, 5}> ()\n y = AffineGrid (theta, s)\n}"
)
ROUND = '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3] x) => (float[2,3] y) { y = Round (x) }'


@pytest.mark.parametrize("pipeline", ["none", "lower-custom"])
def test_the_closest_rule_and_what_stopped_it(pipeline):
    with pytest.raises(ConversionError) as raised:
        run_pipeline(graph_from_text(AFFINE_GRID), pipeline, "iOS15", format="mlprogram")
    message = str(raised.value)
    assert (
        "AffineGrid x1 (no MIL op for this op; closest rule lower::onnx_function/function_body: " in message
    )
    assert "\n" not in message


@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
def test_an_op_no_rule_matches_says_so(fmt):
    with pytest.raises(ConversionError) as raised:
        run_pipeline(graph_from_text(ROUND), "lower-custom", "iOS15", format=fmt)
    assert (
        "no rule of this pipeline matches Round: it needs one that lowers it into ops the target has"
        in str(raised.value)
    )
