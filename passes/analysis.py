"""Whole-graph queries for passes that fuse or move nodes, answered with networkx.

Built on demand from ``ir.to_networkx`` — a copy of the graph — so a fusion pass pays for it once
per pass, never once per rewrite.
"""

from __future__ import annotations

import networkx as nx
import onnx_graphsurgeon as gs

from bridgec.core import ir


class GraphAnalysis:
    def __init__(self, graph: gs.Graph) -> None:
        self.dag = ir.to_networkx(graph)
        self._dominators: dict[str, str] | None = None
        self._order: dict[str, int] | None = None

    def can_fuse(self, producer: str, consumer: str) -> bool:
        """Merging ``producer`` into ``consumer`` keeps the graph acyclic: no other path joins them."""
        if not self.dag.has_edge(producer, consumer):
            return False
        if self._order is None:
            self._order = {name: i for i, name in enumerate(nx.topological_sort(self.dag))}
        # Only nodes before the consumer in topological order can reach it, so the search stays
        # between the two nodes instead of visiting everything downstream of the producer (a
        # fusion pass asking once per candidate would otherwise be quadratic).
        limit = self._order[consumer]
        stack = [n for n in self.dag.successors(producer) if n != consumer and self._order[n] < limit]
        seen = set(stack)
        while stack:
            for successor in self.dag.successors(stack.pop()):
                if successor == consumer:
                    return False
                if successor not in seen and self._order[successor] < limit:
                    seen.add(successor)
                    stack.append(successor)
        return True

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
