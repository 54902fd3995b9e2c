"""The HTML report's drawing of the graph: inline SVG of a ``report_graph.layout``, one ``<g
class="node">`` per node, coloured by status (the page's stylesheet, ``report_html.STYLE``), a
``<title>`` tooltip with everything known about the node, and the tensors' shapes on the edges.
Text from the user's model is escaped everywhere.
"""

from __future__ import annotations

from html import escape

from bridgec.core.ops.status import LOWERED
from bridgec.driver.report_graph import (
    CHAR_W,
    INPUT,
    OUTPUT,
    SMALL_CHAR_W,
    GraphNode,
    GraphView,
    Layout,
    Placed,
)

MAX_DETAIL = 34  # characters of a node's second line; the tooltip has the rest


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(points: list[tuple[float, float]]) -> str:
    """A smooth downward curve through ``points`` (vertical tangents at every point)."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        mid = (y0 + y1) / 2
        parts.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return "".join(parts)


def _tooltip(node: GraphNode, view: GraphView) -> str:
    def tensors(names: list[str]) -> str:
        return ", ".join(f"{t} {view.shapes.get(t, '?')} {view.dtypes.get(t, '')}".rstrip() for t in names)

    lines = [f"{node.name}", f"{node.op} — {node.status}"]
    if node.detail:
        lines.append(node.detail)
    lines += node.members
    if node.inputs:
        lines.append(f"in: {tensors(node.inputs)}")
    if node.outputs:
        lines.append(f"out: {tensors(node.outputs)}")
    return escape("\n".join(lines))


def _node(index: int, node: GraphNode, box: Placed, view: GraphView) -> str:
    left, top = box.x - box.w / 2, box.y
    io = node.status in (INPUT, OUTPUT)
    radius = box.h / 2 if io else 6
    chars = int((box.w - 16) / SMALL_CHAR_W)
    if io:
        first = _fit(f"{node.op}  {node.detail}".strip(), chars)
        verdict = "pass" if node.note_passed else "fail"
        second = f'<tspan class="{verdict}">{escape(_fit(node.note, chars))}</tspan>' if node.note else ""
    else:
        first = _fit(node.op.rpartition("::")[2] or node.op, int((box.w - 12) / CHAR_W))
        shown = node.detail
        if node.status == LOWERED:  # "PASS/RULE -> layer": the rule is what the box says
            shown = "by " + shown.partition(" -> ")[0].rpartition("/")[2]
        second = escape(_fit(shown, min(chars, MAX_DETAIL)))
    cx = f"{box.x:.1f}"
    text_y = top + (box.h / 2 + 4 if not second else box.h / 2 - 2)
    out = [
        f'<g class="node s-{node.status}" id="node-{index}" data-name="{escape(node.name)}">'
        f"<title>{_tooltip(node, view)}</title>"
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="{radius:.1f}"/>'
        f'<text class="op" x="{cx}" y="{text_y:.1f}">{escape(first)}</text>'
    ]
    if second:
        out.append(f'<text class="d" x="{cx}" y="{text_y + 12:.1f}">{second}</text>')
    out.append("</g>")
    return "".join(out)


def svg(view: GraphView, placed: Layout) -> str:
    """The ``<svg>`` of ``view`` laid out as ``placed``."""
    by_key = {node.key: node for node in view.nodes}
    edges, labels, labelled = [], [], set()
    for a, _b, tensor, points in placed.edges:
        shape = view.shapes.get(tensor, "")
        title = escape(f"{tensor} {shape} {view.dtypes.get(tensor, '')}".strip())
        edges.append(f'<path d="{_path(points)}" marker-end="url(#arrow)"><title>{title}</title></path>')
        if shape and (a, tensor) not in labelled and by_key[a].status != INPUT:
            labelled.add((a, tensor))
            x, y = points[0]
            labels.append(f'<text x="{x + 5:.1f}" y="{y + 12:.1f}">{escape(shape)}</text>')
    nodes = [_node(index, node, placed.nodes[node.key], view) for index, node in enumerate(view.nodes)]
    width, height = placed.width, placed.height
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="the model graph after the passes">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0L8,4L0,8z"/></marker></defs>'
        f'<g id="graph-body"><g class="edges">{"".join(edges)}</g><g class="shapes">{"".join(labels)}</g>'
        f'<g class="nodes">{"".join(nodes)}</g></g></svg>'
    )


def minimap(placed: Layout) -> str:
    """The whole drawing, scaled to the window's height (the same elements, by reference)."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="minimap" viewBox="0 0 {placed.width:.0f} '
        f'{placed.height:.0f}" preserveAspectRatio="xMidYMin meet" aria-label="overview of the graph" '
        f'style="height:min(100vh - 130px,{placed.height:.0f}px)">'
        '<use href="#graph-body"/></svg>'
    )
