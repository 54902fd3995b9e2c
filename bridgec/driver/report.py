"""Per-model op coverage: what happened to every source op, and why.

``build(analysis)`` makes the :class:`Report` of one pipeline run: a pure function of what the
passes did, so ``bridgec report`` (no conversion), a conversion and ``bridgec verify`` give the same
table. It renders as a terminal table, Markdown, JSON or a self-contained HTML page (``render(fmt)``;
``bridgec report``, ``--report-out FILE``). The JSON form follows ``report_schema.SCHEMA``::

    {
      "schema": "bridgec-report/1",
      "target": "Core ML NeuralNetwork for iOS14",   # the target's description
      "pipeline": "lower-custom",                    # the -O pipeline
      "possible": true,                              # every node native, lowered, removed or custom with kernel
      "summary": "67 nodes: 47 native, 14 lowered, 0 custom, 6 removed — ...",
      "counts": {"native": 47, "lowered": 14, "custom": 0, "removed": 6, "unsupported": 0},
      "rows": [
        {"op": "Conv", "count": 22, "status": "native", "how": "convolution",
         "kernel": null, "nodes": ["/conv/Conv", ...]},
        # status: native | lowered | custom | removed | unsupported
        # how: the Core ML layer, "PASS/RULE -> new ops", the custom class and its kernels, or why not
        # kernel: for custom rows "CPU+GPU" (bundled Swift + Metal kernels) or "none"; else null
        # because: for lowered rows, node -> why the target refused it as it was ({} if it did not)
      ],
      "inputs": [                                    # the model's inputs that are not float32
        {"name": "input_ids", "model_dtype": "int64", "coreml_dtype": "int32",
         "note": "Core ML's integer input is int32: ...; indexes an embedding of 1000 rows",
         "line": "input_ids: int64 in the model, int32 in Core ML (...)"}
        # coreml_dtype "none": Core ML cannot take the input (note says why)
      ],
      "interface": [                                 # what the app feeds and gets (the written model's description)
        {"role": "input", "name": "image", "kind": "image", "dtype": "", "shape": [],
         "color_space": "RGB", "width": 224, "height": 224, "flexibility": "", "classifier": "",
         "line": "image: image RGB 224x224 (width x height)"}
        # role input | output | state; kind multiarray | image | string | int64 | dictionary | state
      ],
      "check": null | {                              # the numbers check of the written model (bridgec.driver.check)
        "status": "checked",                         # checked | failed | not checked
        "line": "checked: 1 output, max rel err 2.1e-07 (fp32 tolerance 0.0001) against PyTorch",
        "reference": "PyTorch", "precision": "fp32", "tolerance": 1e-4,
        "reason": "",                                # why not checked, or where it failed
        "shapes": ["x:1x3x256x256"], "user_inputs": false, "notes": [],
        "outputs": [{"name": "output", "max_abs": 1e-7, "max_rel": 2e-7, "passed": true,
                     "nonfinite": 0, "size": 196608, "note": ""}]   # max_abs/max_rel -1: not finite
      },
      "verification": null | {                       # present when `bridgec verify` ran
        "passed": true,
        "reference": "pytorch",
        "comparisons": [{"output": "output", "runtime": "coreml_reference", "max_abs": 1e-7,
                         "max_rel": 2e-7, "passed": true, "note": ""}]
        # max_abs/max_rel -1: not computed (the runtime could not run; see note)
      },
      "provenance": null | {                         # where the report comes from (driver/provenance.py)
        "bridgec_version": "0.1.0", "command": "bridgec faceseg.pt -o faceseg.mlpackage",
        "input": "faceseg.pt", "input_sha256": "9f2c...",   # "" for a model given in memory
        "target": "Core ML ML Program for iOS15", "format": "mlprogram (--format auto)",
        "precision": "fp32", "pipeline": "lower-custom"
      }
    }
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.input_values import value_ranges
from bridgec.core.tensor_spec import dtype_name
from bridgec.core.words import plural
from bridgec.driver.provenance import Provenance
from bridgec.driver.report_formats import FORMATS, SUFFIX_FORMATS, format_for  # noqa: F401 - re-exported
from bridgec.driver.report_graph import GraphView, graph_view
from bridgec.driver.report_html import compressed_outputs, page
from bridgec.driver.report_schema import SCHEMA_ID, STATUSES
from bridgec.runtime_kernels.catalog import KERNELS, kernel_for_op

if TYPE_CHECKING:
    from bridgec.driver.pipeline import Lowered


@dataclass
class Row:
    op: str
    count: int
    status: str  # one of STATUSES
    how: str  # the Core ML layer, the rule, the custom class and its kernels, or the reason
    nodes: list[str] = field(default_factory=list)
    kernel: str | None = None  # custom rows: "CPU+GPU" (or "CPU", "GPU") bundled kernels, "none"
    # lowered rows: node -> why the target refused it as it was (a legalisation's reason to fire)
    because: dict[str, str] = field(default_factory=dict)

    def explained(self, target: str) -> str:
        """``how``, and for a node the target refused, the refusal: "lowered by RULE because TARGET
        refuses it: REASON" (the first reason, and how many others the row's nodes have)."""
        if not self.because:
            return self.how
        first = next(iter(self.because.values()))
        # reasons that differ only in the tensor they name ('...') are one reason
        kinds = {re.sub(r"'[^']*'", "'…'", why) for why in self.because.values()}
        more = f" (+{len(kinds) - 1} other reasons)" if len(kinds) > 1 else ""
        return f"{self.how}, because {target} refuses it: {first}{more}"


@dataclass
class InputDtype:
    """A model input that is not float32: its dtype in the model and in Core ML, and why that is
    safe (``backends.coreml.inputs.interface_dtypes``) or why Core ML cannot take it."""

    name: str
    model_dtype: str
    coreml_dtype: str  # "none" when Core ML cannot take the input (for --format coreai: Core AI's dtype)
    note: str
    backend: str = "Core ML"  # or "Core AI" (``backends.coreai.inputs.interface_dtypes``)

    @property
    def line(self) -> str:
        if self.coreml_dtype == "none":
            return f"{self.name}: {self.model_dtype} in the model, not a {self.backend} input ({self.note})"
        same = self.coreml_dtype == self.model_dtype
        in_coreml = f"also in {self.backend}" if same else f"{self.coreml_dtype} in {self.backend}"
        return f"{self.name}: {self.model_dtype} in the model, {in_coreml}" + (
            f" ({self.note})" if self.note else ""
        )


@dataclass
class Verification:
    """What ``bridgec verify`` found: the comparisons of every runtime against the reference."""

    passed: bool
    reference: str
    comparisons: list[dict]

    @classmethod
    def from_result(cls, result) -> Verification:
        def number(x: float) -> float:
            return float(x) if math.isfinite(x) else -1.0  # JSON has no NaN: -1 means "not computed"

        comparisons = [
            {
                "output": c.output,
                "runtime": c.runtime,
                "max_abs": number(c.max_abs),
                "max_rel": number(c.max_rel),
                "passed": bool(c.passed),
                "note": c.note,
            }
            for c in result.comparisons
        ]
        return cls(bool(result.passed), result.reference, comparisons)

    @property
    def line(self) -> str:
        failed = [c for c in self.comparisons if not c["passed"]]
        if not failed:
            return f"verified: all {plural(self.comparisons, 'comparison')} PASS against {self.reference}"
        names = ", ".join(sorted({f"{c['output']} on {c['runtime']}" for c in failed}))
        return f"verified: {len(failed)} of {plural(self.comparisons, 'comparison')} FAIL ({names})"


@dataclass
class Report:
    target: str
    pipeline: str
    rows: list[Row]
    verification: Verification | None = None
    check: object = None  # bridgec.driver.check.Check of the written model, when a conversion ran it
    inputs: list[InputDtype] = field(default_factory=list)  # the inputs that are not float32
    # what the app feeds and gets (backends.coreml.interface.Feature), read from the written model
    interface: list = field(default_factory=list)
    provenance: Provenance | None = None  # which bridgec, command, input file (sha256), target
    # the graph after the passes, each node with what it became (drawn by the HTML report; not in JSON)
    graph_view: GraphView | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            totals[row.status] += row.count
        return totals

    @property
    def possible(self) -> bool:
        """Whether the model converts: nothing unsupported, every custom layer has a bundled kernel."""
        return not any(r.status == "unsupported" or r.kernel == "none" for r in self.rows)

    @property
    def summary(self) -> str:
        counts = self.counts()
        parts = ", ".join(
            f"{counts[s]} {s}" for s in STATUSES if counts[s] or s in ("native", "lowered", "custom")
        )
        if self.possible:
            verdict = "possible"
        else:
            missing = sum(r.count for r in self.rows if r.kernel == "none")
            why = [f"{counts['unsupported']} unsupported"] if counts["unsupported"] else []
            why += [f"{missing} custom without kernel"] if missing else []
            verdict = f"not possible ({', '.join(why)})"
        nodes = plural(sum(counts.values()), "node")
        return f"{nodes}: {parts} — {self.target} {verdict}, -O {self.pipeline}"

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_ID,
            "target": self.target,
            "pipeline": self.pipeline,
            "possible": self.possible,
            "summary": self.summary,
            "counts": self.counts(),
            "rows": [asdict(r) for r in self.rows],
            "inputs": [{**asdict(i), "line": i.line} for i in self.inputs],
            "interface": [feature.to_dict() for feature in self.interface],
            "check": self.check.to_dict() if self.check is not None else None,
            "verification": asdict(self.verification) if self.verification else None,
            "provenance": asdict(self.provenance) if self.provenance else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render(self, fmt: str = "table") -> str:
        return {
            "table": self._table,
            "markdown": self.to_markdown,
            "json": self.to_json,
            "html": self.to_html,
        }[format_for(None, fmt)]()

    def _table(self) -> str:
        header = ("op", "count", "status", "how")
        lines = [header] + [(r.op, str(r.count), r.status, r.explained(self.target)) for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(3)]
        out = []
        for i, line in enumerate(lines):
            out.append("  ".join(c.ljust(widths[j]) if j < 3 else c for j, c in enumerate(line)).rstrip())
            if i == 0:
                out.append("  ".join("-" * w for w in widths) + "  " + "-" * 3)
        out.append(self.summary)
        out += [f"input {i.line}" for i in self.inputs]
        out += [f"app {feature.role} {feature.line}" for feature in self.interface]
        if self.verification:
            out.append(self.verification.line)
        return "\n".join(out)

    def to_markdown(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"# bridgec op report — {self.target}, -O {self.pipeline}", ""]
        if self.provenance is not None:
            lines += [f"- {label}: `{cell(value)}`" for label, value in self.provenance.lines()] + [""]
        lines += [
            "| op | count | status | how | nodes |",
            "|---|---:|---|---|---|",
        ]
        for r in self.rows:
            shown = ", ".join(f"`{n}`" for n in r.nodes[:5]) + (
                f" (+{len(r.nodes) - 5})" if len(r.nodes) > 5 else ""
            )
            how = cell(r.explained(self.target))
            lines.append(f"| `{cell(r.op)}` | {r.count} | {r.status} | {how} | {cell(shown)} |")
        lines += ["", f"**{self.summary}**"]
        if self.inputs:
            lines += ["", *(f"- input `{i.name}`: {cell(i.line.partition(': ')[2])}" for i in self.inputs)]
        if self.interface:
            lines += ["", "What the app feeds and gets:", ""]
            lines += [f"- {f.role} `{f.name}`: {cell(f.line.partition(': ')[2])}" for f in self.interface]
        if self.check is not None:
            lines += ["", f"**{cell(self.check.line())}**", *_markdown_compression(self.check)]
        if self.verification:
            lines += ["", self.verification.line, "", "| output | runtime | max abs | max rel | result |"]
            lines.append("|---|---|---:|---:|---|")
            for c in self.verification.comparisons:
                verdict = "PASS" if c["passed"] else "FAIL"
                lines.append(
                    f"| `{c['output']}` | {c['runtime']} | {c['max_abs']:.3g} | {c['max_rel']:.3g} | {verdict} |"
                )
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        return page(self)


def _markdown_compression(check: object) -> list[str]:
    outputs = compressed_outputs(check)
    if not outputs:
        return []
    lines = ["", f"| output (compressed) | max abs | max rel vs {check.reference} |", "|---|---:|---:|"]
    return lines + [f"| `{o.name}` | {o.max_abs:.3g} | {o.max_rel:.3g} |" for o in outputs]


def kernel_kinds(class_name: str) -> str:
    spec = KERNELS.get(class_name)
    if spec is None:
        return "none"
    kinds = [k for k, present in (("CPU", spec.has_cpu), ("GPU", spec.has_gpu)) if present]
    return "+".join(kinds) or "none"


def _key_of(label: str) -> tuple[str, str]:
    domain, _, op = label.rpartition("::")
    return (domain, op)


def kernel_note(class_name: str, bundled: bool = True) -> str:
    spec = KERNELS.get(class_name) if bundled else None
    if spec is None:
        return f"{class_name} (no bundled kernel: the app must implement MLCustomLayer {class_name})"
    kinds = [k for k, present in (("CPU", spec.has_cpu), ("GPU", spec.has_gpu)) if present]
    return f"{class_name} ({'+'.join(kinds) or 'no'} kernel{'s' if len(kinds) > 1 else ''})"


def build(analysis: Lowered, check: object = None) -> Report:
    """The report of one pipeline run: ``analysis.source`` (node name, op label of the graph before
    the passes, in order) against ``analysis.graph`` after them, by what ``analysis.context``
    recorded; ``check``: the numbers check of the model written from it, if one ran."""
    ctx = analysis.context
    caps = ctx.capabilities
    source = analysis.source
    final_nodes = {node.name: node for node in analysis.graph.nodes}
    rewrites = defaultdict(list)
    for rewrite in ctx.rewrites:
        for name in rewrite.source_nodes:
            rewrites[name].append(rewrite)
    groups: dict[tuple[str, str, str, str | None], list[str]] = defaultdict(list)
    because: dict[str, str] = {}
    for name, label in source:
        node = final_nodes.get(name)
        steps = [r for r in rewrites.get(name, []) if r.rule not in ("custom_layer",)]
        kernel = None
        if node is not None:
            status, how, kernel = node_status(node, label, rewrites.get(name, []), caps)
        elif steps and not steps[-1].pass_id.startswith("cleanup::"):  # a rule replaced it
            created = sorted(set(steps[-1].created_ops))
            why = next((step.because for step in steps if step.because), "")
            if why:
                because[name] = why
            status, how = (
                "lowered",
                f"{steps[-1].pass_id}/{steps[-1].rule} -> {', '.join(created) or 'nothing'}",
            )
        else:
            status, how = "removed", f"by {ctx.removed_by.get(name, 'a pass')}"
        groups[(label, status, how, kernel)].append(name)
    rows = [
        Row(op, len(names), status, how, names, kernel, {n: because[n] for n in names if n in because})
        for (op, status, how, kernel), names in groups.items()
    ]
    rows.sort(key=lambda r: (STATUSES.index(r.status), r.op))
    return Report(
        caps.description,
        ctx.pipeline,
        rows,
        check=check,
        inputs=input_dtypes(analysis),
        graph_view=graph_view(analysis, lambda n, lbl, rw: node_status(n, lbl, rw, caps), rewrites),
    )


def node_status(node: gs.Node, label: str, rewrites: list, caps) -> tuple[str, str, str | None]:
    """(status, how, kernel) of ``node``, still in the graph after the passes; ``label``: its op in
    the source; ``rewrites``: the rewrites recorded under its name."""
    if ir.op_key(node)[0] == ir.CUSTOM_DOMAIN:
        # The kernel is the one the catalog has for the op that became the custom layer (what
        # TagCustomLayers and the kernel writer use), not any class that happens to share its name.
        tagged = [r for r in rewrites if r.rule == "custom_layer"]
        spec = kernel_for_op(*_key_of(tagged[-1].source_op if tagged else label))
        kernel = kernel_kinds(spec.class_name) if spec else "none"
        how = kernel_note(node.op, bundled=spec is not None)
        custom_kernel = getattr(caps, "custom_kernel", None)  # a format that carries the kernel itself
        if custom_kernel is not None and spec is not None:
            kernel, how = custom_kernel(node)
        return "custom", how, kernel
    reason = caps.unsupported_reason(node)
    if reason:
        return "unsupported", reason, None
    native = caps.native(ir.op_key(node))
    layer = (native.emits if native is not None else "") or "?"
    steps = [r for r in rewrites if r.rule != "custom_layer"]
    via = f" via {steps[-1].rule}" if steps else ""
    return (
        "native",
        f"{layer}{via}" if ir.op_label(node) == label else f"{ir.op_label(node)} -> {layer}{via}",
        None,
    )


def input_dtypes(analysis: Lowered) -> list[InputDtype]:
    """The report's line for each input that is not float32: the Core ML side says what it makes of
    the input and why that keeps the numbers; what the input indexes comes from the graph."""
    from bridgec.backends.coreml.inputs import interface_dtypes
    from bridgec.core.errors import ConversionError

    graph = analysis.graph
    odd = [t for t in graph.inputs if t.dtype is not None and np.dtype(t.dtype) != np.float32]
    if not odd:
        return []
    if analysis.format == "coreai":
        return _coreai_input_dtypes(graph, odd)
    try:
        changes = interface_dtypes(graph, analysis.format, analysis.context.capabilities.target.ios)
        refused = ""
    except ConversionError as exc:  # the report still says what the input is; the conversion refuses
        changes, refused = [], str(exc)
    changed = {c.name: c for c in changes if c.kind == "input"}
    ranges = value_ranges(graph)
    found = []
    for tensor in odd:
        model = dtype_name(tensor.dtype)
        if refused and f"input {tensor.name!r}" in refused:
            found.append(InputDtype(tensor.name, model, "none", refused))
            continue
        change = changed.get(tensor.name)
        notes = [change.why] if change else []
        values = ranges.get(tensor.name)
        if values is not None and values.rows is not None:
            notes.append(values.describe())
        coreml = dtype_name(change.coreml_dtype) if change else model
        found.append(InputDtype(tensor.name, model, coreml, "; ".join(notes)))
    return found


def _coreai_input_dtypes(graph, odd) -> list[InputDtype]:
    """The Core AI side of ``input_dtypes``: what the app feeds (``backends.coreai.inputs``)."""
    from bridgec.backends.coreai.inputs import interface_dtypes
    from bridgec.core.errors import ConversionError

    try:
        changed, refused = {c.name: c for c in interface_dtypes(graph) if c.kind == "input"}, ""
    except ConversionError as exc:  # the report still says what the input is; the conversion refuses
        changed, refused = {}, str(exc)
    found = []
    for tensor in odd:
        model, change = dtype_name(tensor.dtype), changed.get(tensor.name)
        if refused:
            found.append(InputDtype(tensor.name, model, "none", refused, "Core AI"))
        else:
            held = dtype_name(change.coreai_dtype) if change else model
            found.append(InputDtype(tensor.name, model, held, change.why if change else "", "Core AI"))
    return found
