"""networkx-backed graph queries: fusion legality and dominance."""

from __future__ import annotations

from bridgec.passes.analysis import GraphAnalysis
from tests.helpers import graph_from_text

# a -> b -> d, a -> c -> d, and b -> c: fusing a into b is fine, b into d would create a cycle via c
TEXT = (
    '<ir_version: 8, opset_import: ["" : 17]> g (float[4] x) => (float[4] y) '
    "{ a = Relu (x) b = Sigmoid (a) c = Add (a, b) y = Mul (b, c) }"
)


def test_can_fuse_only_without_a_second_path():
    analysis = GraphAnalysis(graph_from_text(TEXT))
    assert analysis.can_fuse("Relu_0", "Sigmoid_1")
    assert not analysis.can_fuse("Sigmoid_1", "Mul_3")  # Sigmoid -> Add -> Mul is another path
    assert not analysis.can_fuse("Relu_0", "Mul_3")  # not even adjacent


def test_dominators():
    analysis = GraphAnalysis(graph_from_text(TEXT))
    assert analysis.dominates("Relu_0", "Mul_3")
    assert analysis.dominates("Relu_0", "Add_2")
    assert not analysis.dominates("Sigmoid_1", "Mul_3")  # Relu -> Add -> Mul bypasses it
    assert not analysis.dominates("Add_2", "Mul_3")
