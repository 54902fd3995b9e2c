"""MatMul and Gemm emitters (backends/coreml/neuralnetwork_layers/linear.py) against onnxruntime."""

from __future__ import annotations

import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)

W1 = "w = Constant <value = float[3] {0.5, -1.0, 2.0}> ()\n "

# name: (inputs, output, body): 1-D operands, which batchedMatmul promotes and keeps (rank max(2, ...))
CASES = {
    "vector_matrix": ("float[3] a, float[3,4] b", "float[4] y", "y = MatMul (a, b)"),
    "matrix_vector": ("float[2,5,3] a, float[3] b", "float[2,5] y", "y = MatMul (a, b)"),
    "vector_batch": ("float[3] a, float[2,3,4] b", "float[2,4] y", "y = MatMul (a, b)"),
    "const_vector": ("float[2,4,3] a", "float[2,4] y", W1 + "y = MatMul (a, w)"),
    "vector_weight": (
        "float[3] a",
        "float[2] y",
        "w = Constant <value = float[3,2] {1,2,3,4,5,6}> ()\n y = MatMul (a, w)",
    ),
    "batched": ("float[2,1,4,3] a, float[5,3,2] b", "float[2,5,4,2] y", "y = MatMul (a, b)"),
}


@pytest.mark.parametrize("case", CASES)
def test_matmul_matches_onnxruntime(case):
    inputs, outputs, body = CASES[case]
    assert_matches_onnxruntime(model_text(inputs, outputs, body), "iOS14")


def test_two_vectors_are_refused():
    text = model_text("float[3] a, float[3] b", "float y", "y = MatMul (a, b)")
    assert "rank-0 scalar" in unsupported_reason(text)
