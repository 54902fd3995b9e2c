"""The graph the backend emitted from, for the HTML report: what each node became (``GraphView``,
built from the pipeline's result) and a layered drawing of it (``layout``).

The layout is Sugiyama's, kept small: longest-path layers (every edge goes down), one dummy point per
layer an edge crosses, barycenter sweeps that keep the order with the fewest crossings, then x
positions that pull each node under its neighbours without overlaps (isotonic regression per layer:
the positions nearest the neighbours' mean that keep the order and the spacing). A node is a box of
the size its text needs. On big graphs, runs of native nodes collapse into one box (``collapse``):
nothing was decided there, and a 1,000-node ViT stays a page one scrolls rather than a wall.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.ops.status import CUSTOM, LOWERED, NATIVE, UNSUPPORTED

if TYPE_CHECKING:
    import networkx as nx

INPUT, OUTPUT = "input", "output"  # the graph's inputs and outputs, drawn as nodes of their own
COLLAPSE_ABOVE = 250  # nodes: a bigger graph draws runs of native nodes as one box
MIN_RUN = 3  # the shortest run of native nodes worth a box of its own

# drawing sizes, in CSS pixels
NODE_H, IO_H = 36, 30
LAYER_GAP = 30  # vertical room between layers (the tensor's shape label sits there)
NODE_GAP, DUMMY_W = 18, 6
CHAR_W, SMALL_CHAR_W = 7.9, 6.5  # 12px bold / 11px regular DejaVu Sans (the widest usual font)
MIN_W, MAX_W = 88.0, 230.0
MARGIN = 24.0
RELAX = 8  # sweeps of the x relaxation


@dataclass
class GraphNode:
    key: str  # unique: the node's name, or "input:NAME" / "output:NAME"
    op: str  # op label, or the tensor's name for an input/output
    status: str  # native | lowered | custom | unsupported | input | output
    detail: str  # the layer it became, the rule that made it, the custom class and its kernels, why not
    name: str  # the node's (or tensor's) name in the graph
    inputs: list[str] = field(default_factory=list)  # tensor names
    outputs: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # a collapsed run: the nodes' names, in order
    note: str = ""  # an output: its checked error ("max rel 2e-07 ≤ 1e-4 vs PyTorch")
    note_passed: bool = True


@dataclass
class GraphView:
    nodes: list[GraphNode]
    shapes: dict[str, str]  # tensor name -> "1×16×128×128" (only where known)
    dtypes: dict[str, str]
    collapsed: int = 0  # native nodes drawn inside collapsed runs

    def edges(self) -> list[tuple[str, str, str]]:
        """(producer key, consumer key, tensor name), once per pair and tensor, in graph order."""
        producer = {t: n.key for n in self.nodes for t in n.outputs}
        found: dict[tuple[str, str, str], None] = {}
        for node in self.nodes:
            for tensor in node.inputs:
                if tensor in producer and producer[tensor] != node.key:
                    found[(producer[tensor], node.key, tensor)] = None
        return list(found)


# (node, its op label in the source, the rewrites of its name) -> (status, how, kernel): report.py's
StatusOf = Callable[[gs.Node, str, list], tuple[str, str, "str | None"]]


def _shape_text(tensor) -> str:
    shape = getattr(tensor, "shape", None)
    if shape is None:
        return ""
    return "×".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape) or "scalar"


def graph_view(lowered, status_of: StatusOf, rewrites: dict[str, list]) -> GraphView:
    """What each node of ``lowered.graph`` became: ``status_of(node, label, rewrites)`` (report.py's
    status of a node still in the graph) and, for a native node a rule made, ``lowered`` by it."""
    graph, ctx = lowered.graph, lowered.context
    labels = dict(lowered.source)
    shapes: dict[str, str] = {}
    dtypes: dict[str, str] = {}
    for tensor in graph.tensors().values():
        if not isinstance(tensor, gs.Constant):
            text = _shape_text(tensor)
            if text:
                shapes[tensor.name] = text
            if tensor.dtype is not None:
                dtypes[tensor.name] = getattr(tensor.dtype, "__name__", str(tensor.dtype))
    nodes = [
        GraphNode(f"{INPUT}:{t.name}", t.name, INPUT, shapes.get(t.name, ""), t.name, outputs=[t.name])
        for t in graph.inputs
    ]
    for node in graph.nodes:
        label = labels.get(node.name, ir.op_label(node))
        status, how, _ = status_of(node, label, rewrites.get(node.name, []))
        made_by = ctx.created_by.get(node.name, "")
        if status == NATIVE and "/" in made_by and not made_by.startswith("cleanup::"):
            status, how = LOWERED, f"{made_by} -> {how}"
        nodes.append(
            GraphNode(
                node.name,
                ir.op_label(node),
                status,
                how,
                node.name,
                inputs=[t.name for t in node.inputs if t.name],
                outputs=[t.name for t in node.outputs if t.name],
            )
        )
    nodes += [
        GraphNode(f"{OUTPUT}:{t.name}", t.name, OUTPUT, shapes.get(t.name, ""), t.name, inputs=[t.name])
        for t in graph.outputs
    ]
    view = GraphView(nodes, shapes, dtypes)
    return collapse(view) if len(graph.nodes) > COLLAPSE_ABOVE else view


def collapse(view: GraphView, min_run: int = MIN_RUN) -> GraphView:
    """``view`` with every run of ``min_run`` or more native nodes, each feeding only the next (a
    chain: one node in, one node out), drawn as one box that lists its ops."""
    edges = view.edges()
    succ: dict[str, set[str]] = {}
    pred: dict[str, set[str]] = {}
    for a, b, _ in edges:
        succ.setdefault(a, set()).add(b)
        pred.setdefault(b, set()).add(a)
    by_key = {n.key: n for n in view.nodes}

    def chained(a: str, b: str) -> bool:
        one_to_one = succ.get(a) == {b} and pred.get(b) == {a}
        return one_to_one and by_key[a].status == NATIVE and by_key[b].status == NATIVE

    runs: list[list[GraphNode]] = []
    seen: set[str] = set()
    for node in view.nodes:
        if node.key in seen or node.status != NATIVE:
            continue
        starts = not (len(pred.get(node.key, ())) == 1 and chained(next(iter(pred[node.key])), node.key))
        if not starts:
            continue
        run = [node]
        while len(succ.get(run[-1].key, ())) == 1 and chained(run[-1].key, next(iter(succ[run[-1].key]))):
            run.append(by_key[next(iter(succ[run[-1].key]))])
        seen.update(n.key for n in run)
        runs.append(run)
    merged: dict[str, GraphNode] = {}
    for run in runs:
        if len(run) < min_run:
            continue
        inside = {t for n in run for t in n.outputs}
        ops = [n.op.rpartition("::")[2] for n in run]
        box = GraphNode(
            run[0].key,
            f"{len(run)} native ops",
            NATIVE,
            " → ".join(ops),
            f"{run[0].name} … {run[-1].name}",
            inputs=[t for n in run for t in n.inputs if t not in inside],
            outputs=run[-1].outputs,
            members=[f"{n.name}: {n.op} ({n.detail})" for n in run],
        )
        for n in run:
            merged[n.key] = box
    nodes, added = [], set()
    for node in view.nodes:
        box = merged.get(node.key, node)
        if box.key not in added:
            nodes.append(box)
            added.add(box.key)
    count = sum(len(b.members) for b in {id(b): b for b in merged.values()}.values())
    return GraphView(nodes, view.shapes, view.dtypes, collapsed=count)


# ------------------------------------------------------------------------------------------ layout


@dataclass
class Placed:
    x: float  # centre
    y: float  # top
    w: float
    h: float
    layer: int


@dataclass
class Layout:
    nodes: dict[str, Placed]
    edges: list[tuple[str, str, str, list[tuple[float, float]]]]  # (from, to, tensor, polyline points)
    width: float
    height: float
    crossings: int


def node_width(node: GraphNode) -> float:
    if node.status in (INPUT, OUTPUT):  # name and shape on one line, the checked error below
        wide = max(len(f"{node.op}  {node.detail}"), len(node.note)) * SMALL_CHAR_W + 36
        return max(MIN_W, min(MAX_W * 1.6, wide))
    wide = max(len(node.op.rpartition("::")[2]) * CHAR_W, min(len(node.detail), 34) * SMALL_CHAR_W) + 20
    return max(MIN_W, min(MAX_W, wide))


def layers_of(g: nx.DiGraph) -> dict[str, int]:
    """Longest-path layering: every node one layer below its lowest predecessor; a node fed by
    nothing (an input, a constant computation) sits just above its first consumer."""
    import networkx as nx

    layer: dict[str, int] = {}
    for v in nx.topological_sort(g):
        layer[v] = max((layer[u] + 1 for u in g.predecessors(v)), default=0)
    for v in reversed(list(nx.topological_sort(g))):
        if g.in_degree(v) == 0 and g.out_degree(v) and not v.startswith(f"{INPUT}:"):
            layer[v] = min(layer[w] for w in g.successors(v)) - 1
    return layer


def count_crossings(upper: list[str], lower: list[str], links: list[tuple[str, str]]) -> int:
    """Crossings of the edges ``links`` between two ordered layers (inversions, Fenwick tree)."""
    top = {v: i for i, v in enumerate(upper)}
    bottom = {v: i for i, v in enumerate(lower)}
    pairs = sorted((top[a], bottom[b]) for a, b in links if a in top and b in bottom)
    tree = [0] * (len(lower) + 1)
    crossings = 0
    for seen, (_, b) in enumerate(pairs):
        i, below = b + 1, 0
        while i > 0:  # how many edges so far end at or left of b
            below += tree[i]
            i -= i & -i
        crossings += seen - below
        i = b + 1
        while i <= len(lower):
            tree[i] += 1
            i += i & -i
    return crossings


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence nearest ``values`` (weighted least squares; pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for mean, _, count in blocks:
        out += [mean] * int(count)
    return out


def _pack(desired: list[float], widths: list[float], weights: list[float]) -> list[float]:
    """Centres nearest ``desired`` that keep the order and leave NODE_GAP between boxes."""
    offsets, total = [0.0], 0.0
    for i in range(1, len(widths)):
        total += (widths[i - 1] + widths[i]) / 2 + NODE_GAP
        offsets.append(total)
    fitted = _isotonic([d - o for d, o in zip(desired, offsets, strict=True)], weights)
    return [f + o for f, o in zip(fitted, offsets, strict=True)]


def _dummy(key: str) -> bool:
    return key.startswith("\0")


def _pulled(x: dict[str, float], v: str, neighbours: list[str]) -> float:
    """Where ``v`` would like to be: at the mean of its neighbours of its own kind (a real node
    follows real nodes, a long edge's bend the bends next to it), so that a residual edge neither
    drags the chain it joins sideways nor is pulled into it."""
    alike = [u for u in neighbours if _dummy(u) == _dummy(v)]
    found = [x[u] for u in (alike or neighbours)]
    return sum(found) / len(found) if found else x[v]


def layout(view: GraphView, sweeps: int = 2) -> Layout:
    """Positions for every node of ``view`` and a downward polyline for every edge; deterministic
    (the same view gives the same layout)."""
    # networkx costs a tenth of a second to import: only an HTML report draws the graph
    import networkx as nx

    g = nx.DiGraph()
    for node in view.nodes:
        g.add_node(node.key)
    tensors: dict[tuple[str, str], str] = {}
    for a, b, tensor in view.edges():
        g.add_edge(a, b)
        tensors.setdefault((a, b), tensor)
    layer = layers_of(g)
    depth = max(layer.values(), default=0) + 1
    width = {n.key: node_width(n) for n in view.nodes}
    # long edges get one dummy point per layer they cross; (a, b) -> the chain a, d1, ..., b
    chains: dict[tuple[str, str], list[str]] = {}
    rank = {key: i for i, key in enumerate(n.key for n in view.nodes)}
    rows: list[list[str]] = [[] for _ in range(depth)]
    for key in sorted(layer, key=lambda k: rank[k]):
        rows[layer[key]].append(key)
    down: dict[str, list[str]] = {}
    up: dict[str, list[str]] = {}
    for a, b in g.edges:
        chain = [a] + [f"\0{a}\0{b}\0{i}" for i in range(layer[a] + 1, layer[b])] + [b]  # \0: a dummy
        chains[(a, b)] = chain
        for i, dummy in enumerate(chain[1:-1], start=layer[a] + 1):
            rows[i].append(dummy)
            width[dummy] = DUMMY_W
        for u, v in itertools.pairwise(chain):
            down.setdefault(u, []).append(v)
            up.setdefault(v, []).append(u)

    def links(i: int) -> list[tuple[str, str]]:
        return [(u, v) for u in rows[i] for v in down.get(u, ())]

    def total_crossings() -> int:
        return sum(count_crossings(rows[i], rows[i + 1], links(i)) for i in range(depth - 1))

    best, best_rows = total_crossings(), [list(r) for r in rows]
    for sweep in range(sweeps * 2):
        forward = sweep % 2 == 0
        for i in range(1, depth) if forward else range(depth - 2, -1, -1):
            near = rows[i - 1] if forward else rows[i + 1]
            where = {v: j for j, v in enumerate(near)}
            current = {v: j for j, v in enumerate(rows[i])}
            neighbours = up if forward else down

            def barycenter(v: str, where=where, current=current, neighbours=neighbours) -> float:
                found = [where[u] for u in neighbours.get(v, ()) if u in where]
                return sum(found) / len(found) if found else current[v]

            rows[i].sort(key=barycenter)
        crossings = total_crossings()
        if crossings < best:
            best, best_rows = crossings, [list(r) for r in rows]
    rows = best_rows
    # x: pack each layer, then let every node settle at the mean of its neighbours above and below
    # (a relaxation; pulling towards one side only shears a deep graph block after block)
    x: dict[str, float] = {}
    for row in rows:
        packed = _pack([0.0] * len(row), [width[v] for v in row], [1.0] * len(row))
        shift = packed[-1] / 2 if packed else 0.0
        x.update({v: p - shift for v, p in zip(row, packed, strict=True)})
    for sweep in range(RELAX):
        for i in range(depth) if sweep % 2 == 0 else range(depth - 1, -1, -1):
            row = rows[i]
            desired = [_pulled(x, v, [*up.get(v, ()), *down.get(v, ())]) for v in row]
            weights = [0.4 if _dummy(v) else 1.0 for v in row]
            x.update(zip(row, _pack(desired, [width[v] for v in row], weights), strict=True))
    left = min((x[v] - width[v] / 2 for v in x), default=0.0)
    pitch = NODE_H + LAYER_GAP
    placed = {}
    for n in view.nodes:
        h = IO_H if n.status in (INPUT, OUTPUT) else NODE_H
        top = MARGIN + layer[n.key] * pitch + (NODE_H - h) / 2
        placed[n.key] = Placed(x[n.key] - left + MARGIN, top, width[n.key], h, layer[n.key])
    drawn = []
    for (a, b), chain in chains.items():
        start, end = placed[a], placed[b]
        points = [(start.x, start.y + start.h)]
        for i, dummy in enumerate(chain[1:-1], start=layer[a] + 1):
            points.append((x[dummy] - left + MARGIN, MARGIN + i * pitch + NODE_H / 2))
        points.append((end.x, end.y))
        drawn.append((a, b, tensors[(a, b)], points))
    right = max((p.x + p.w / 2 for p in placed.values()), default=0.0)
    return Layout(placed, drawn, right + MARGIN, MARGIN * 2 + depth * pitch - LAYER_GAP, best)


STATUS_ORDER = (NATIVE, LOWERED, CUSTOM, UNSUPPORTED)
