"""Per-model op coverage: what happened to every source op, and why."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.passes import Capabilities, PassContext
from bridgec.runtime_kernels.catalog import KERNELS

STATUSES = ("native", "lowered", "custom", "removed", "unsupported")


@dataclass
class Row:
    op: str
    count: int
    status: str  # one of STATUSES
    how: str  # the Core ML layer, the rule, the custom class and its kernels, or the reason
    nodes: list[str] = field(default_factory=list)


@dataclass
class Report:
    target: str
    pipeline: str
    rows: list[Row]

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            totals[row.status] += row.count
        return totals

    @property
    def summary(self) -> str:
        counts = self.counts()
        parts = ", ".join(
            f"{counts[s]} {s}" for s in STATUSES if counts[s] or s in ("native", "lowered", "custom")
        )
        return f"{sum(counts.values())} nodes: {parts} — {self.target}, -O {self.pipeline}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "target": self.target,
                "pipeline": self.pipeline,
                "summary": self.summary,
                "counts": self.counts(),
                "rows": [asdict(r) for r in self.rows],
            },
            indent=2,
        )

    def render(self) -> str:
        header = ("op", "count", "status", "how")
        lines = [header] + [(r.op, str(r.count), r.status, r.how) for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(3)]
        out = []
        for i, line in enumerate(lines):
            out.append("  ".join(c.ljust(widths[j]) if j < 3 else c for j, c in enumerate(line)).rstrip())
            if i == 0:
                out.append("  ".join("-" * w for w in widths) + "  " + "-" * 3)
        out.append(self.summary)
        return "\n".join(out)


def kernel_note(class_name: str) -> str:
    spec = KERNELS.get(class_name)
    if spec is None:
        return f"{class_name} (no bundled kernel: the app must implement MLCustomLayer {class_name})"
    kinds = [k for k, present in (("CPU", spec.has_cpu), ("GPU", spec.has_gpu)) if present]
    return f"{class_name} ({'+'.join(kinds) or 'no'} kernel{'s' if len(kinds) > 1 else ''})"


def build(source: list[tuple[str, str]], final: gs.Graph, ctx: PassContext, caps: Capabilities) -> Report:
    """``source``: (node name, op label) of the graph before the passes, in order."""
    from bridgec.backends.coreml import ops

    final_nodes = {node.name: node for node in final.nodes}
    rewrites = defaultdict(list)
    for rewrite in ctx.rewrites:
        for name in rewrite.source_nodes:
            rewrites[name].append(rewrite)
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for name, label in source:
        node = final_nodes.get(name)
        steps = [r for r in rewrites.get(name, []) if r.rule not in ("custom_layer",)]
        if node is not None and ir.op_key(node)[0] == ir.CUSTOM_DOMAIN:
            status, how = "custom", kernel_note(node.op)
        elif node is not None:
            reason = caps.unsupported_reason(node)
            if reason:
                status, how = "unsupported", reason
            else:
                emitter = ops.lookup(node)
                layer = emitter.layer if emitter else "?"
                via = f" via {steps[-1].rule}" if steps else ""
                status, how = (
                    "native",
                    f"{layer}{via}" if ir.op_label(node) == label else f"{ir.op_label(node)} -> {layer}{via}",
                )
        elif steps and steps[-1].pass_id.startswith("lower::"):
            created = sorted(set(steps[-1].created_ops))
            status, how = (
                "lowered",
                f"{steps[-1].pass_id}/{steps[-1].rule} -> {', '.join(created) or 'nothing'}",
            )
        else:
            status, how = "removed", f"by {ctx.removed_by.get(name, 'a pass')}"
        groups[(label, status, how)].append(name)
    rows = [Row(op, len(names), status, how, names) for (op, status, how), names in groups.items()]
    rows.sort(key=lambda r: (STATUSES.index(r.status), r.op))
    return Report(caps.description, ctx.pipeline, rows)
