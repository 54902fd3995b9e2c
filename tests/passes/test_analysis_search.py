"""GraphAnalysis.can_fuse searches only between the two nodes; it must agree with networkx's
whole-graph reachability on random DAGs (the earlier implementation, kept here as the oracle)."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import onnx_graphsurgeon as gs
import pytest

from bridgec.passes.analysis import GraphAnalysis


def _reference(dag: nx.DiGraph, producer: str, consumer: str) -> bool:
    if not dag.has_edge(producer, consumer):
        return False
    return not nx.has_path(nx.restricted_view(dag, [], [(producer, consumer)]), producer, consumer)


def _random_graph(rng: random.Random) -> gs.Graph:
    """Nodes n0..nk, each reading up to 3 earlier nodes' outputs: skips make second paths."""
    x = gs.Variable("x", dtype=np.float32, shape=[4])
    outputs, nodes = [], []
    for j in range(rng.randint(5, 40)):
        reads = [outputs[i] for i in rng.sample(range(j), min(j, rng.randint(1, 3)))] or [x]
        out = gs.Variable(f"t{j}", dtype=np.float32, shape=[4])
        nodes.append(gs.Node("Sum", f"n{j}", inputs=reads, outputs=[out]))
        outputs.append(out)
    return gs.Graph(nodes=nodes, inputs=[x], outputs=[outputs[-1]], opset=17)


@pytest.mark.parametrize("seed", range(20))
def test_can_fuse_agrees_with_whole_graph_reachability(seed):
    graph = _random_graph(random.Random(seed))
    analysis = GraphAnalysis(graph)
    names = [node.name for node in graph.nodes]
    pairs = [(a, b) for a in names for b in names if a != b]
    ours = [analysis.can_fuse(a, b) for a, b in pairs]
    assert ours == [_reference(analysis.dag, a, b) for a, b in pairs]
    assert any(ours)  # the cases cover both answers for adjacent pairs
    assert any(analysis.dag.has_edge(a, b) and not fine for (a, b), fine in zip(pairs, ours, strict=True))
