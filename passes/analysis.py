"""Whole-graph queries for passes that fuse or move nodes, answered with networkx.

Built on demand from ``ir.to_networkx`` — a copy of the graph — so a fusion pass pays for it once
per pass, never once per rewrite.
"""

from __future__ import annotations

import networkx as nx
import onnx_graphsurgeon as gs

from bridgec import ir


class GraphAnalysis:
    def __init__(self, graph: gs.Graph) -> None:
        self.dag = ir.to_networkx(graph)
        self._dominators: dict[str, str] | None = None

    def can_fuse(self, producer: str, consumer: str) -> bool:
        """Merging ``producer`` into ``consumer`` keeps the graph acyclic: no other path joins them."""
        if not self.dag.has_edge(producer, consumer):
            return False
        view = nx.restricted_view(self.dag, [], [(producer, consumer)])
        return not nx.has_path(view, producer, consumer)

    def dominates(self, a: str, b: str) -> bool:
        """Every path from the graph's inputs to ``b`` passes through ``a``."""
        if self._dominators is None:
            root = "__inputs__"
            dag = self.dag.copy()
            dag.add_node(root)
            for node in self.dag.nodes:
                if self.dag.in_degree(node) == 0:
                    dag.add_edge(root, node)
            self._dominators = nx.immediate_dominators(dag, root)
        node = b
        while node != self._dominators.get(node, node):
            if node == a:
                return True
            node = self._dominators[node]
        return node == a
