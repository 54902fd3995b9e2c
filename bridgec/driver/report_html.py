"""The HTML op report (``--report-out r.html``): one self-contained page (no network, no script
needed) a person opens. At the top a bar with the verdict and the numbers check, the node counts by
status and the provenance; then each output's checked error, the graph after the passes drawn as
SVG (``report_graph``, ``report_svg``) with its legend, and the op table.
"""

from __future__ import annotations

import dataclasses
from html import escape

from bridgec.core.ops.status import CUSTOM, LOWERED, NATIVE, REMOVED, STATUSES, UNSUPPORTED
from bridgec.core.words import plural
from bridgec.driver.report_graph import INPUT, MIN_RUN, OUTPUT, GraphView, layout
from bridgec.driver.report_svg import minimap, svg

# status -> (fill, stroke, what it means); the page's only colours for the statuses (tests sample them)
STATUS_STYLE = {
    NATIVE: ("#e3f2e8", "#2e8b57", "a layer or op the target has computes it as it is"),
    LOWERED: ("#dfe9fb", "#2f64c8", "a named rule rewrote it into ops the target has (the rule is shown)"),
    CUSTOM: ("#fdeecb", "#c07f00", "a custom layer, with the Swift/Metal kernels bridgec bundles (or none)"),
    REMOVED: ("#eceff3", "#8a94a6", "a pass removed it (folded constant, identity): not drawn"),
    UNSUPPORTED: ("#fbdcdc", "#c62828", "nothing on this target computes it (the reason is shown)"),
}
IO_STYLE = ("#263445", "#263445")

STYLE = (
    ":root{--ink:#1d2733;--muted:#5b6778;--line:#d9dee6;--bg:#f6f7f9}"
    "*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
    "'DejaVu Sans',sans-serif;color:var(--ink);background:var(--bg)}"
    "header{position:sticky;top:0;z-index:2;display:flex;gap:14px;align-items:center;flex-wrap:wrap;"
    "padding:10px 24px;background:#1d2733;color:#fff}header h1{font-size:16px;margin:0;font-weight:600}"
    "header .model{color:#c9d3df;font-family:'DejaVu Sans Mono',monospace;font-size:13px}"
    ".chip{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12.5px;font-weight:600}"
    ".ok{background:#d7f0df;color:#17603a}.bad{background:#fbd5d5;color:#9b1c1c}.warn{background:#fdecc8;"
    "color:#7a4f00}main{padding:16px 24px 40px}"
    ".cards{display:grid;grid-template-columns:minmax(360px,1fr) minmax(420px,1fr);gap:16px}"
    ".card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px}"
    ".card h2,section h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);"
    "margin:0 0 8px}h2.gap{margin-top:14px}.counts{display:flex;gap:8px;flex-wrap:wrap;margin:4px 0 8px}"
    ".count{display:flex;align-items:center;gap:6px;padding:4px 10px;border-radius:6px;border:1px solid;"
    "font-weight:600}.count.zero{border-color:var(--line);background:#fff;color:var(--muted)}"
    ".count b{font-size:18px}.count span{font-weight:400;color:var(--muted)}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0;font-size:13px}"
    "dt{color:var(--muted)}dd{margin:0;font-family:'DejaVu Sans Mono',monospace;font-size:12px;"
    "word-break:break-all}table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}"
    "td,th{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}"
    "th{color:var(--muted);font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.pass{color:#17603a;font-weight:600}td.fail{color:#9b1c1c;font-weight:600}"
    "section{margin-top:20px}.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:12.5px;margin:0 0 8px}"
    ".legend i{display:inline-block;width:14px;height:14px;border-radius:3px;border:1.5px solid;"
    "vertical-align:-2px;margin-right:5px}.canvas{overflow:auto;background:#fff;border:1px solid var(--line);"
    "border-radius:8px}svg.graph{display:block;margin:0 auto;font-family:'DejaVu Sans',system-ui,sans-serif}"
    ".edges path{fill:none;stroke:#8d98a8;stroke-width:1.2}marker path{fill:#8d98a8}"
    ".shapes text{font-size:10px;fill:#6b7686}.node text{text-anchor:middle;font-size:11px;fill:#39424e}"
    ".node text.op{font-size:12px;font-weight:700;fill:#1d2733}.node rect{stroke-width:1.5}"
    ".node:hover rect{stroke-width:3}.node.s-input text,.node.s-output text{fill:#fff;font-weight:600}"
    ".node tspan.pass{fill:#8ee6a8}.node tspan.fail{fill:#ffb4b4}"
    ".graphwrap{display:grid;grid-template-columns:minmax(0,1fr) 200px;gap:16px;align-items:start}"
    ".overview{position:sticky;top:64px;background:#fff;border:1px solid var(--line);border-radius:8px;"
    "padding:8px}svg.minimap{display:block;width:100%;cursor:pointer}"
    ".minimap .shapes,.minimap text{display:none}"
    "code{font-family:'DejaVu Sans Mono',monospace;font-size:12px}.note{color:var(--muted);font-size:12.5px}"
    "details summary{cursor:pointer;color:var(--muted);white-space:nowrap}"
    + "".join(
        f".s-{status} rect{{fill:{fill};stroke:{stroke}}}"
        for status, (fill, stroke, _) in STATUS_STYLE.items()
    )
    + f".s-{INPUT} rect,.s-{OUTPUT} rect{{fill:{IO_STYLE[0]};stroke:{IO_STYLE[1]}}}"
)

# An extra (the page is whole without it): a click on the overview scrolls the graph there.
SCRIPT = (
    "for(const m of document.querySelectorAll('svg.minimap'))m.addEventListener('click',e=>{"
    "const r=m.getBoundingClientRect(),g=document.querySelector('svg.graph').getBoundingClientRect();"
    "window.scrollBy({top:g.top+(e.clientY-r.top)/r.height*g.height-innerHeight/2,behavior:'smooth'})});"
)


def _check_notes(report) -> dict[str, tuple[str, bool]]:
    """Output name -> (its checked error, passed): the conversion's check, else verify's worst runtime."""
    from bridgec.driver.check import short

    check = report.check
    if check is not None and check.outputs:
        return {
            o.name: (
                f"max rel {o.max_rel:.2g} {'≤' if o.passed else '>'} {short(check.tolerance)} "
                f"{'✓' if o.passed else '✗'} vs {check.reference}",
                o.passed,
            )
            for o in check.outputs
        }
    notes: dict[str, tuple[str, bool]] = {}
    for c in report.verification.comparisons if report.verification else []:
        worst = notes.get(c["output"])
        if worst is None or (worst[1] and not c["passed"]):
            verdict = "✓" if c["passed"] else "✗"
            notes[c["output"]] = (f"{c['runtime']} max rel {c['max_rel']:.2g} {verdict}", c["passed"])
    return notes


def _header(report) -> str:
    source = report.provenance.input if report.provenance else ""
    verdict = ("ok", "conversion possible") if report.possible else ("bad", "not possible")
    chips = [f'<span class="chip {verdict[0]}">{verdict[1]}</span>']
    if report.check is not None:
        kind = {"checked": "ok", "failed": "bad"}.get(report.check.status, "warn")
        chips.append(
            f'<span class="chip {kind}">{escape(report.check.line().split(";")[0].split(" (")[0])}</span>'
        )
    return (
        f'<header><h1>bridgec report</h1><span class="model">{escape(source)}</span>'
        f"<span>{escape(report.target)}</span>{''.join(chips)}</header>"
    )


def _summary(report) -> str:
    counts = report.counts()
    boxes = "".join(
        f'<div class="count" style="border-color:{STATUS_STYLE[s][1]};background:{STATUS_STYLE[s][0]}">'
        f"<b>{counts[s]}</b><span>{s}</span></div>"
        if counts[s]
        else f'<div class="count zero"><b>0</b><span>{s}</span></div>'  # no colour for what is not there
        for s in STATUSES
    )
    facts = ""
    if report.provenance is not None:
        facts = (
            "<dl>"
            + "".join(
                f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>"
                for label, value in report.provenance.lines()
            )
            + "</dl>"
        )
    return (
        f'<div class="cards"><div class="card"><h2>Source nodes by status</h2><div class="counts">{boxes}</div>'
        f'<p class="note">{escape(report.summary)}</p>{_check(report)}</div>'
        f'<div class="card"><h2>Provenance</h2>{facts or "<p class=note>not recorded</p>"}</div></div>'
    )


def _check(report) -> str:
    from bridgec.driver.check import short

    check = report.check
    if check is None:
        return ""
    rows = "".join(
        f'<tr><td><code>{escape(o.name)}</code></td><td class="n">{o.max_abs:.3g}</td>'
        f'<td class="n">{o.max_rel:.3g}</td><td class="n">{short(check.tolerance)}</td>'
        f'<td class="{"pass" if o.passed else "fail"}">{"PASS" if o.passed else "FAIL"}</td>'
        f"<td>{escape(o.note)}</td></tr>"
        for o in check.outputs
    )
    ran = "the written model, run on this machine" + (
        " by Apple's Core AI runtime"
        if "Core AI" in report.target
        else " by bridgec's Core ML reference executor"
    )
    return f'<h2 class="gap">Numbers check</h2><p><strong>{escape(check.line())}</strong></p>' + (
        f"<table><tr><th>output</th><th>max abs</th><th>max rel</th><th>tolerance</th><th>result</th>"
        f'<th>note</th></tr>{rows}</table><p class="note">{escape(ran)} against '
        f"{escape(check.reference)} ({escape(check.precision)}).</p>"
        if check.outputs
        else ""
    )


def _graph(report) -> str:
    view: GraphView | None = report.graph_view
    if view is None:
        return ""
    notes = _check_notes(report)
    nodes = [
        dataclasses.replace(n, note=notes[n.name][0], note_passed=notes[n.name][1])
        if n.status == OUTPUT and n.name in notes
        else n
        for n in view.nodes
    ]
    view = dataclasses.replace(view, nodes=nodes)
    placed = layout(view)
    drawn = {s: sum(1 for n in view.nodes if n.status == s) for s in STATUS_STYLE}
    legend = "".join(
        f'<span title="{escape(meaning)}"><i style="background:{fill};border-color:{stroke}"></i>'
        f"{status}: {plural(drawn[status], 'box', 'boxes')}</span>"  # boxes the backend emitted from, not source nodes
        for status, (fill, stroke, meaning) in STATUS_STYLE.items()
        if status != REMOVED
    )
    legend += (
        f'<span><i style="background:{IO_STYLE[0]};border-color:{IO_STYLE[1]}"></i>input / output</span>'
    )
    real = len(view.nodes) - sum(1 for n in view.nodes if n.status in (INPUT, OUTPUT))
    folded = (
        f"; {plural(view.collapsed, 'native node')} in runs of {MIN_RUN} or more are drawn as one box a run"
        if view.collapsed
        else ""
    )
    return (
        f'<section><h2>Graph after the passes</h2><div class="legend">{legend}</div>'
        f'<p class="note">{plural(real, "box", "boxes")} for what the backend emitted from{folded}; hover a node for its '
        "name, tensors and how it converts; edges are tensors, labelled with their shapes.</p>"
        f'<div class="graphwrap"><div class="canvas">{svg(view, placed)}</div>'
        f'<div class="overview"><h2>Overview</h2>{minimap(placed)}</div></div></section>'
    )


def _op_table(report) -> str:
    rows = "".join(
        f'<tr><td><i class="sw" style="background:{STATUS_STYLE[r.status][0]}"></i><code>{escape(r.op)}</code>'
        f'</td><td class="n">{r.count}</td><td>{escape(r.status)}</td>'
        f"<td>{escape(r.explained(report.target))}</td><td><details><summary>{plural(r.nodes, 'node')}"
        f"</summary>{'<br>'.join(escape(n) for n in r.nodes)}</details></td></tr>"
        for r in report.rows
    )
    return (
        "<section><h2>Ops</h2><table><tr><th>op</th><th>count</th><th>status</th><th>how</th>"
        f"<th>nodes</th></tr>{rows}</table></section>"
    )


def compressed_outputs(check: object) -> list:
    """--compress: the compressed model's error per output (``check.Compression``), if measured."""
    compression = getattr(check, "compression", None)
    return compression.outputs if compression is not None else []


def _extras(report) -> str:
    parts = [f"<p>input {escape(i.line)}</p>" for i in report.inputs]
    if report.interface:
        items = "".join(f"<li>{escape(f.role)} {escape(f.line)}</li>" for f in report.interface)
        parts.append(f"<section><h2>What the app feeds and gets</h2><ul>{items}</ul></section>")
    compressed = compressed_outputs(report.check)
    if compressed:
        rows = "".join(
            f'<tr><td>{escape(o.name)}</td><td class="n">{o.max_abs:.3g}</td><td class="n">{o.max_rel:.3g}</td></tr>'
            for o in compressed
        )
        parts.append(
            f"<table><tr><th>output (compressed)</th><th>max abs</th><th>max rel vs "
            f"{escape(report.check.reference)}</th></tr>{rows}</table>"
        )
    if report.verification:
        items = "".join(
            f'<tr><td>{escape(c["output"])}</td><td>{escape(c["runtime"])}</td><td class="n">{c["max_abs"]:.3g}</td>'
            f'<td class="n">{c["max_rel"]:.3g}</td><td>{"PASS" if c["passed"] else "FAIL"}</td></tr>'
            for c in report.verification.comparisons
        )
        parts.append(
            f"<section><h2>Verification</h2><p>{escape(report.verification.line)}</p><table><tr><th>output</th>"
            f"<th>runtime</th><th>max abs</th><th>max rel</th><th>result</th></tr>{items}</table></section>"
        )
    return "".join(parts)


def page(report) -> str:
    """The whole page of ``report`` (a ``report.Report``)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>bridgec op report — {escape(report.target)}</title><style>{STYLE}"
        ".sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}</style></head><body>"
        f"{_header(report)}<main>{_summary(report)}{_graph(report)}{_extras(report)}"
        f"{_op_table(report)}</main><script>{SCRIPT}</script></body></html>\n"
    )
