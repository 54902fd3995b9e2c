"""MatMul, Gemm and Einsum as ML Program ops, against onnxruntime; Einsum forms MIL lacks are refused."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml import mlprogram_ops as mil
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, freeze, graph


def test_matmul_two_variables():
    check(graph("y = MatMul (x, z)", inputs="float[2,3,4,5] x, float[2,3,5,6] z"), ("matmul",))


def test_matmul_constant_weight():
    check(freeze(graph("y = MatMul (x, w)", inputs="float[2,3,4,5] x, float[5,7] w"), w=None), ("matmul",))


def test_matmul_by_a_transposed_view_reads_the_weight_as_it_lies():
    # the direct exporter folds a linear layer's transpose as a view of its weight
    # (pt2_direct._linear): MIL gets the weight itself with transpose_y, and coremltools' linear
    # fusion takes it as it is; no copy of either weight is made
    rng = np.random.default_rng(2)
    first = rng.standard_normal((7, 5)).astype(np.float32)  # [out, in], as PyTorch holds it
    second = rng.standard_normal((6, 7)).astype(np.float32)
    g = graph(
        "m = MatMul (x, a)\n s = Add (m, b)\n y = MatMul (s, c)",
        inputs="float[2,3,4,5] x, float[5,7] a, float[7] b, float[7,6] c",
    )
    model = check(freeze(g, a=first.T, b=None, c=second.T), ("linear", "matmul"))
    ops = list(model._mil_program.functions["main"].operations)
    (linear,) = [op for op in ops if op.op_type == "linear"]
    (matmul,) = [op for op in ops if op.op_type == "matmul"]
    assert np.shares_memory(linear.weight.val, first)
    assert matmul.transpose_y.val and not matmul.transpose_x.val
    assert np.shares_memory(matmul.y.val, second)


@pytest.mark.parametrize(
    ("attrs", "b_shape", "c_shape", "mil_op"),
    [
        ("transB = 1", "[6,5]", "[6]", "linear"),
        ("alpha = 0.5, beta = 2.0", "[5,6]", "[1,6]", "linear"),
        ("transA = 1", "[5,6]", "[6]", "linear"),
        ("beta = 0.5", "[5,6]", "[4,6]", "matmul"),
    ],
)
def test_gemm(attrs, b_shape, c_shape, mil_op):
    a_shape = "[5,4]" if "transA" in attrs else "[4,5]"
    g = graph(f"y = Gemm <{attrs}> (a, b, c)", inputs=f"float{a_shape} a, float{b_shape} b, float{c_shape} c")
    check(freeze(g, b=None, c=None), (mil_op,))


def test_gemm_variable_b():
    check(graph("y = Gemm <transB = 1> (a, b)", inputs="float[4,5] a, float[6,5] b"), ("matmul",))


@pytest.mark.parametrize(
    ("equation", "a", "b"),
    [
        ("nchw,nwhu->nchu", "[2,3,4,5]", "[2,5,4,6]"),
        ("chw,whr->chr", "[3,4,5]", "[5,4,6]"),
        ("abcd,adce->abce", "[1,2,3,4]", "[1,4,3,2]"),
    ],
)
def test_einsum_mil_forms(equation, a, b):
    g = graph(f'y = Einsum <equation = "{equation}"> (p, q)', inputs=f"float{a} p, float{b} q", opset=17)
    check(g, ("einsum",))


@pytest.mark.parametrize(
    ("equation", "reason"),
    [
        ("ij,jk->ik", "takes rank-3 or rank-4 operands"),
        ("bij,bjk->bik", "is not of MIL's forms"),
        ("nchw,nwhu->nhcu", "is not of MIL's forms"),
        ("nchw->nhwc", "takes two operands, not 1"),
        ("i,i->", "takes rank-3 or rank-4 operands"),
    ],
)
def test_einsum_other_forms_are_refused(equation, reason):
    g = graph(f'y = Einsum <equation = "{equation}"> (p, q)', inputs="float[2,2] p, float[2,2] q")
    node = g.nodes[0]
    assert reason in (mil.lookup(node).check(node, None) or "")


@pytest.mark.parametrize(
    ("a", "b"),
    [("[5]", "[2,3,5,4]"), ("[5]", "[5,4]"), ("[2,3,4,5]", "[5]"), ("[4,5]", "[5]"), ("[5]", "[2,5,1]")],
)
def test_matmul_one_dimensional_operands(a, b):
    # numpy.matmul: a 1-D left operand is a row, a 1-D right one a column, and that axis is dropped
    check(graph("y = MatMul (p, q)", inputs=f"float{a} p, float{b} q"), ("matmul", "squeeze"))


def test_matmul_of_two_vectors_refused():
    node = graph("y = MatMul (p, q)", inputs="float[5] p, float[5] q").nodes[0]
    assert "rank-0 scalar" in mil.lookup(node).check(node, None)


@pytest.mark.parametrize("a_shape, x_shape", [("[3,3]", "[3,3]"), ("[4,3]", "[2,3,4]")])
def test_constant_on_the_left_then_a_bias(a_shape, x_shape):
    """W @ x + b with a constant W: coremltools' fuse_matmul_weight_bias makes it linear(x^T, W)^T with b
    added before the transpose, along the wrong axis whenever b's length fits there (square products;
    found by the property soak). The emitter keeps the constant on the right: (x^T W^T)^T."""
    n = 3 if x_shape == "[3,3]" else 4
    g = graph(
        "m = MatMul (a, x)\n y = Add (m, c)",
        inputs=f"float{a_shape} a, float{x_shape} x, float[{n}] c",
    )
    check(freeze(g, a=None, c=None), ("matmul", "transpose"))


def test_gemm_constant_a_variable_b_with_bias():
    g = graph("y = Gemm (a, b, c)", inputs="float[3,3] a, float[3,3] b, float[3] c")
    check(freeze(g, a=None, c=None))
