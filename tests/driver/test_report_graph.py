"""The HTML report's graph layout (bridgec/driver/report_graph.py): layered, downward, no overlaps,
deterministic; and the collapsing of native runs on big graphs."""

from __future__ import annotations

import itertools

from bridgec.driver.report_graph import (
    INPUT,
    OUTPUT,
    GraphNode,
    GraphView,
    collapse,
    count_crossings,
    layout,
)


def _view(edges: list[tuple[str, str]], statuses: dict[str, str] | None = None) -> GraphView:
    """A view whose node ``b`` reads tensor ``a`` for each (a, b); ``in``/``out`` are the graph's."""
    names = list(dict.fromkeys(itertools.chain.from_iterable(edges)))
    nodes = []
    for name in names:
        status = INPUT if name == "in" else OUTPUT if name == "out" else (statuses or {}).get(name, "native")
        key = f"{status}:{name}" if status in (INPUT, OUTPUT) else name
        inputs = [a for a, b in edges if b == name]
        nodes.append(GraphNode(key, name, status, "layer", name, inputs=inputs, outputs=[name]))
    return GraphView(nodes, {n: "1×8" for n in names}, {})


# a diamond, a skip over three layers and a crossing the first order makes (c2 reads b1, c1 reads b2)
EDGES = [
    ("in", "a"),
    ("a", "b1"),
    ("a", "b2"),
    ("b2", "c1"),
    ("b1", "c2"),
    ("c1", "d"),
    ("c2", "d"),
    ("a", "d"),
    ("d", "out"),
    ("in", "e"),
    ("e", "d"),
]


def test_every_edge_goes_down_and_no_boxes_overlap():
    view = _view(EDGES)
    placed = layout(view)
    boxes = placed.nodes
    assert set(boxes) == {n.key for n in view.nodes}
    for a, b, _, points in placed.edges:
        assert boxes[b].layer > boxes[a].layer
        ys = [y for _, y in points]
        assert ys == sorted(ys) and ys[0] == boxes[a].y + boxes[a].h and ys[-1] == boxes[b].y
    for p, q in itertools.combinations(boxes.values(), 2):
        apart_x = abs(p.x - q.x) >= (p.w + q.w) / 2
        apart_y = p.y + p.h <= q.y or q.y + q.h <= p.y
        assert apart_x or apart_y, (p, q)
    assert all(b.x - b.w / 2 >= 0 and b.x + b.w / 2 <= placed.width for b in boxes.values())
    assert boxes["input:in"].layer == 0 and boxes["e"].layer == 1
    assert boxes["d"].layer == 4 and boxes["output:out"].layer == 5  # longest path: in a b c d out


def test_sweeps_remove_the_crossing_and_the_layout_is_deterministic():
    view = _view(EDGES)
    placed = layout(view)
    assert placed.crossings == 0
    assert count_crossings(["b1", "b2"], ["c1", "c2"], [("b1", "c2"), ("b2", "c1")]) == 1  # as given
    again = layout(_view(EDGES))
    assert again.nodes == placed.nodes and again.edges == placed.edges


def test_a_chain_stays_straight_under_a_residual_edge():
    # x -> n0 -> ... -> n5 -> add, with x -> add too: the chain must not lean towards the long edge
    edges = [("in", "n0")] + [(f"n{i}", f"n{i + 1}") for i in range(5)] + [("n5", "add"), ("n0", "add")]
    boxes = layout(_view(edges + [("add", "out")])).nodes
    xs = [boxes[f"n{i}"].x for i in range(1, 6)]
    assert max(xs) - min(xs) < 4  # pixels: the relaxation leaves at most a slight bow
    skip = [p for a, b, _, p in layout(_view(edges + [("add", "out")])).edges if (a, b) == ("n0", "add")][0]
    bends = [x for x, _ in skip[1:-1]]
    assert len(bends) == 5 and max(bends) - min(bends) < 4 and min(bends) > max(xs)  # beside it, straight


def test_collapse_keeps_what_was_decided_and_every_tensor_between_boxes():
    chain = [("in", "n0")] + [(f"n{i}", f"n{i + 1}") for i in range(6)] + [("n6", "out")]
    view = _view(chain, {"n3": "custom"})
    folded = collapse(view)
    ops = [n.op for n in folded.nodes]
    # n0..n2 (3 native) fold; n3 is custom; n4..n6 (3 native) fold
    assert ops == ["in", "3 native ops", "n3", "3 native ops", "out"]
    assert folded.collapsed == 6
    assert folded.nodes[1].members[0].startswith("n0: n0")
    edges = {(a, b) for a, b, _ in folded.edges()}
    assert edges == {("input:in", "n0"), ("n0", "n3"), ("n3", "n4"), ("n4", "output:out")}
    short = collapse(_view([("in", "n0"), ("n0", "n1"), ("n1", "out")]))
    assert [n.op for n in short.nodes] == ["in", "n0", "n1", "out"]  # a run of 2: not worth a box
