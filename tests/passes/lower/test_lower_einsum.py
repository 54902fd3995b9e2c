"""Einsum lowering (passes/lower/einsum.py): the common forms become transposes, sums, reshapes and
one batched matmul, equal to onnxruntime's Einsum after lowering and in the emitted Core ML model."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.neuralnetwork import build_spec
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph
from tests.passes.lower.test_lower_math import Everything


def model(equation: str, shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> str:
    names = "ab"[: len(shapes)]
    inputs = ", ".join(f"float[{','.join(map(str, s))}] {n}" for n, s in zip(names, shapes, strict=True))
    return (
        f'<ir_version: 8, opset_import: ["" : 18]> g ({inputs}) => (float[{",".join(map(str, out))}] y) '
        f'{{\n y = Einsum <equation = "{equation}"> ({", ".join(names)})\n}}'
    )


# (equation, operand shapes, output shape, op types after)
CASES = {
    "matmul": ("ij,jk->ik", [(3, 4), (4, 5)], (3, 5), ["MatMul"]),
    "batched": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], (2, 3, 5), ["MatMul"]),
    "attention_scores": (
        "bhid,bhjd->bhij",
        [(2, 3, 4, 5), (2, 3, 6, 5)],
        (2, 3, 4, 6),
        ["MatMul", "Transpose"],
    ),
    "attention_values": ("bhij,bhjd->bhid", [(2, 3, 4, 6), (2, 3, 6, 5)], (2, 3, 4, 5), ["MatMul"]),
    "outer": ("i,j->ij", [(3,), (4,)], (3, 4), ["MatMul", "Reshape", "Reshape", "Reshape"]),
    "transposed_output": ("ij,jk->ki", [(3, 4), (4, 5)], (5, 3), ["MatMul", "Transpose"]),
    "two_contracted": (
        "bijl,bjlk->bik",
        [(2, 3, 4, 2), (2, 4, 2, 5)],
        (2, 3, 5),
        ["MatMul", "Reshape", "Reshape", "Reshape"],
    ),
    "summed_in_one": (
        "ij,jk->k",
        [(3, 4), (4, 5)],
        (5,),
        ["MatMul", "ReduceSum", "Reshape", "Reshape", "Reshape"],
    ),
    "swap_last": ("...ij->...ji", [(2, 3, 4, 5)], (2, 3, 5, 4), ["Transpose"]),
    "sum_axis": ("ijk->ik", [(3, 4, 5)], (3, 5), ["ReduceSum"]),
    "weights": ("bij,jk->bik", [(2, 3, 4), (4, 5)], (2, 3, 5), ["MatMul", "Reshape", "Reshape", "Reshape"]),
    "row_dots": ("ij,ij->i", [(3, 4), (3, 4)], (3,), ["MatMul", "Reshape", "Reshape", "Reshape"]),
    "broadcast_batch": ("bij,bjk->bik", [(1, 3, 4), (2, 4, 5)], (2, 3, 5), ["MatMul"]),
    "implicit": ("ij,jk", [(3, 4), (4, 5)], (3, 5), ["MatMul"]),
    "ellipsis_batch": ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)], (2, 3, 5), ["MatMul"]),
}


@pytest.mark.parametrize("case", CASES)
def test_einsum_forms_and_numbers(case):
    equation, shapes, out, expected = CASES[case]
    graph = graph_from_text(model(equation, shapes, out))
    rng = np.random.default_rng(7)
    feeds = {t.name: rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in graph.inputs}
    want = run_graph(graph, feeds)[0]
    before = graph.copy()
    lowered = passes.Pipeline([passes.LowerEinsum()]).run(graph, target=capabilities_for("iOS14"))
    assert op_types(lowered) == expected
    assert_io_kept(before, lowered)
    assert_matches(run_graph(lowered, feeds)[0], want, tolerance=1e-6)
    for target in ("iOS13", "iOS14"):
        got = run_coreml(build_spec(lowered.copy(), target), feeds)["y"]
        assert_matches(got, want, tolerance=1e-6)


@pytest.mark.parametrize(
    "equation, shapes, out, target, reason",
    [
        ("ii->i", [(3, 3)], (3,), "iOS14", "diagonal"),
        ("ij,jk->ik", [(3, 4), (4, 5)], (3, 5), Everything(), "the target runs it as it is"),
    ],
)
def test_einsum_rules_must_not_fire(equation, shapes, out, target, reason):
    graph = graph_from_text(model(equation, shapes, out))
    caps = capabilities_for(target) if isinstance(target, str) else target
    context = passes.PassContext(capabilities=caps)
    lowered = passes.LowerEinsum()(graph, context).graph
    assert op_types(lowered) == ["Einsum"]
    assert any(reason in miss.reason for miss in context.near_misses.values())
