"""Per-target op coverage: every operator of the default ONNX domain and what bridgec does with it on
a Core ML or Core AI target (the statuses, and the tables that render them).

Nothing here is a hand list, and nothing is converted to find out. An op's status comes from the
machinery a conversion uses:

* ops with one float input and no required attribute are **probed**: a one-node model at the
  latest opset goes through the frontend (normalisation to the ``ai.bridgec`` form) and
  ``bridgec.passes.legality.plan`` says what the ``-O lower-custom`` passes make of its node, from
  the target's capabilities, the pipeline's rules and the kernel catalog;
* otherwise (and where the probe's default attributes are refused) the target's table
  (``Capabilities.native``: what it emits, from which release, its restrictions) decides native, the
  lowering pipelines' ``RuleSet``s (their rules' root op keys) decide lowered, and the kernel
  catalog decides custom with kernel.

The node tests are in ``bridgec.driver.node_tests``, the generated documents in
``bridgec.driver.coverage_docs``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities
from bridgec.core.ops.status import CUSTOM, LOWERED, NATIVE, REMOVED, UNSUPPORTED
from bridgec.core.words import plural
from bridgec.driver.node_tests import OUTCOMES, NodeTest, run_node_tests

if TYPE_CHECKING:
    import onnx
    import onnx_graphsurgeon as gs

    from bridgec.passes.legality import NodePlan

PIPELINE = "lower-custom"
# the coverage tables' column order: an op a cleanup removes counts next to the lowered ones
STATUSES = (NATIVE, LOWERED, REMOVED, CUSTOM, UNSUPPORTED)
PROBE_SHAPE = (1, 3, 8, 8)


@dataclass
class OpStatus:
    op: str
    since: int  # the opset version of the op's latest schema
    status: str  # one of STATUSES
    how: str  # Core ML layer, "pass/rule -> ops", custom class and kernels, or why not
    restrictions: str = ""  # what the capability check requires (native ops)
    evidence: str = ""  # "probe" (a one-node model's node, planned through the passes) or "table"


@dataclass
class Coverage:
    target: str  # the target's description
    target_name: str
    ops: list[OpStatus]
    tests: list[NodeTest] | None = None
    seconds: float = 0.0
    format: str = "neuralnetwork"

    @property
    def format_name(self) -> str:
        return {"mlprogram": "ML Program", "coreai": "Core AI"}.get(self.format, "NeuralNetwork")

    @property
    def product(self) -> str:
        """The model kind in words: "Core ML NeuralNetwork", "Core ML ML Program" or "Core AI"."""
        return self.format_name if self.format == "coreai" else f"Core ML {self.format_name}"

    @property
    def custom_kind(self) -> str:
        if self.format == "coreai":
            return "custom kernels (coreai.metal4_kernel, Metal source from the bundled kernels)"
        return "custom layers with bundled Swift/Metal kernels"

    @property
    def runner(self) -> str:
        """What runs the converted node tests."""
        if self.format == "coreai":
            return "Apple's Core AI runtime (coreai-core, one child process for all)"
        return "the reference executor"

    def counts(self) -> dict[str, int]:
        found = Counter(o.status for o in self.ops)
        return {s: found[s] for s in STATUSES}

    def test_counts(self, op: str | None = None) -> dict[str, int]:
        found = Counter(t.outcome for t in self.tests or () if op is None or t.op == op)
        return {o: found[o] for o in OUTCOMES}

    def headline(self) -> str:
        c = self.counts()
        removed = f", drops {c['removed']} as inference no-ops" if c["removed"] else ""
        text = (
            f"Of the {plural(self.ops, 'operator')} of the default ONNX domain (opset {latest_opset()}), "
            f"{self.product} for {self.target_name} runs {c['native']} natively, {c['lowered']} "
            f"through lowering rules, {c['custom']} as {self.custom_kind}"
            f"{removed}; "
            f"{c['unsupported']} are unsupported."
        )
        if self.tests is not None:
            t = self.test_counts()
            text += (
                f" ONNX backend node tests through bridgec: {t['passed']} passed, {t['failed']} failed, "
                f"{t['skipped']} skipped (of {len(self.tests)})."
            )
        return text

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "format": self.format,
            "opset": latest_opset(),
            "counts": self.counts(),
            "ops": [asdict(o) for o in self.ops],
            "node_tests": None
            if self.tests is None
            else {"counts": self.test_counts(), "tests": [asdict(t) for t in self.tests]},
        }

    def render(self, fmt: str = "table") -> str:
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=2)
        if fmt == "markdown":
            return self.to_markdown()
        rows = [("op", "status", "how", "node tests")]
        for o in self.ops:
            rows.append((o.op, o.status, o.how, self._test_cell(o.op)))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = []
        for i, row in enumerate(rows):
            lines.append("  ".join(c.ljust(widths[j]) if j < 3 else c for j, c in enumerate(row)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths) + "  ----------")
        lines.append(self.headline())
        return "\n".join(lines)

    def _test_cell(self, op: str) -> str:
        if self.tests is None:
            return ""
        c = self.test_counts(op)
        if not sum(c.values()):
            return "no tests"
        return f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"

    def static_markdown(self) -> str:
        """The operator table: status from the op table, rules and kernels; node-test counts per op."""
        c = self.counts()
        lines = [
            f"## Operators on {self.target}",
            "",
            f"{plural(self.ops, 'operator')} of the default ONNX domain at opset {latest_opset()}: "
            + ", ".join(f"{c[s]} {s}" for s in STATUSES)
            + ".",
            "",
            "| op | since | status | how | restrictions | evidence | node tests (passed/failed/skipped) |",
            "|---|---:|---|---|---|---|---|",
        ]
        for o in self.ops:
            c = self.test_counts(o.op)
            tests = f"{c['passed']}/{c['failed']}/{c['skipped']}" if sum(c.values()) else "—"
            lines.append(
                f"| `{o.op}` | {o.since} | {o.status} | {_cell(o.how)} | {_cell(o.restrictions)} | {o.evidence} "
                f"| {tests} |"
            )
        return "\n".join(lines) + "\n"

    def tests_markdown(self) -> str:
        if self.tests is None:
            return ""
        t = self.test_counts()
        lines = [
            "## ONNX backend node tests",
            "",
            f"{len(self.tests)} node tests (`onnx.backend.test` node cases, onnx {_onnx_version()}), each "
            f"converted with `-O {PIPELINE}` for {self.target} and run by {self.runner}, "
            f"compared with the test's rtol/atol: **{t['passed']} passed, {t['failed']} failed, "
            f"{t['skipped']} skipped**.",
            "",
            "### Per operator",
            "",
            "| op | passed | failed | skipped | why skipped or failed (most common) |",
            "|---|---:|---:|---:|---|",
        ]
        by_op: dict[str, list[NodeTest]] = {}
        for test in self.tests:
            by_op.setdefault(test.op, []).append(test)
        for op in sorted(by_op):
            c = self.test_counts(op)
            reasons = Counter(t.reason for t in by_op[op] if t.outcome != "passed")
            why = reasons.most_common(1)[0][0] if reasons else ""
            lines.append(f"| `{op}` | {c['passed']} | {c['failed']} | {c['skipped']} | {_cell(why)} |")
        lines += ["", "### Every test", "", "| test | op | result | reason |", "|---|---|---|---|"]
        for test in self.tests:
            lines.append(f"| {test.name} | `{test.op}` | {test.outcome} | {_cell(test.reason)} |")
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        parts = [
            "# ONNX operator coverage",
            "",
            "Generated by `python tools/gen_coverage.py` (do not edit; `tests/driver/test_coverage.py` fails when "
            "it is stale). Statuses come from the op table, the lowering rules and the kernel catalog "
            "the passes use (see `bridgec/driver/coverage.py`); `bridgec coverage --target T` prints the same "
            "for any target.",
            "",
            f"**{self.headline()}**",
            "",
            self.static_markdown(),
        ]
        if self.tests is not None:
            parts += [self.tests_markdown()]
        return "\n".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _onnx_version() -> str:
    import onnx

    return onnx.__version__


def latest_opset() -> int:
    import onnx.defs

    return onnx.defs.onnx_opset_version()


def onnx_ops() -> list[tuple[str, int]]:
    """(name, since_version) of every non-deprecated operator of the default domain, latest schema."""
    import onnx.defs

    return sorted(
        (s.name, s.since_version) for s in onnx.defs.get_all_schemas() if s.domain == "" and not s.deprecated
    )


def _lowering_rules() -> dict[tuple[str, str], list[str]]:
    """Op key -> "pass/rule" of every rule of a RuleSet in the lowering pipelines, by its root op."""
    from bridgec.passes import PIPELINES, REGISTRY, RuleSet, pipeline_ids

    found: dict[tuple[str, str], list[str]] = {}
    for pass_id in dict.fromkeys(p for name in PIPELINES for p in pipeline_ids(name)):
        cls = REGISTRY[pass_id]
        if isinstance(cls, type) and issubclass(cls, RuleSet):
            for rule in cls.rules:
                found.setdefault(rule.op, []).append(f"{pass_id}/{rule.name}")
    return found


def _has_function_body(op: str) -> bool:
    import onnx.defs

    schema = onnx.defs.get_schema(op)
    return schema.has_function or schema.has_context_dependent_function


def _probe_model(op: str):
    """A one-node model of ``op`` on a float input at the latest opset, or None if onnx refuses it."""
    import onnx
    from onnx import helper

    schema = onnx.defs.get_schema(op)
    if schema.min_input != 1 or any(a.required for a in schema.attributes.values()):
        return None
    # A consumer after the op, as in a real model (cleanup keeps a no-op that feeds a graph output).
    nodes = [helper.make_node(op, ["x"], ["y"], name=f"{op}_probe"), helper.make_node("Relu", ["y"], ["z"])]
    graph = helper.make_graph(
        nodes,
        f"probe_{op}",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, PROBE_SHAPE)],
        [helper.make_empty_tensor_value_info("z")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", latest_opset())])
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, check_type=True)
    except Exception:  # noqa: BLE001 - the op does not take a float tensor: no probe
        return None
    out = inferred.graph.value_info[0].type if inferred.graph.value_info else inferred.graph.output[0].type
    if not out.HasField("tensor_type") or out.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        return None
    return inferred


def _probe(op: str, caps: Capabilities) -> tuple[NodePlan | None, gs.Node | None]:
    """What ``-O lower-custom`` makes of the node of a one-node ``op`` model (and that node), or Nones."""
    model = _probe_model(op)
    if model is None:
        return None, None
    try:
        return plan_probe(model, f"{op}_probe", caps)
    except Exception:  # noqa: BLE001 - the frontend or a rule refuses the probe: decide from the table
        return None, None


def plan_probe(
    model: onnx.ModelProto, name: str, caps: Capabilities
) -> tuple[NodePlan | None, gs.Node | None]:
    """What ``-O lower-custom`` makes of the node called ``name`` of a probe ``model`` (and that node,
    as the frontend reads it): the frontend, then ``bridgec.passes.legality.plan``; no conversion."""
    from pathlib import Path

    from bridgec import passes
    from bridgec.frontends.onnx_file import graph_from_model
    from bridgec.passes.legality import plan

    graph = graph_from_model(model, Path(f"{model.graph.name}.onnx"))
    plans = plan(graph, caps, passes.pipeline(PIPELINE))
    found = [p for p in plans if p.node == name]
    return (found[0] if found else None), next((n for n in graph.nodes if n.name == name), None)


def _from_plan(found: NodePlan, node: gs.Node, caps: Capabilities) -> tuple[str, str, str] | None:
    """(status, how, restrictions) of a probe's plan, as the op report words them; None when the
    plan leaves the op unsupported (the table decides then)."""
    from bridgec.driver.report import kernel_kinds, kernel_note

    if found.status == NATIVE:
        native = caps.native(ir.op_key(node))
        return NATIVE, (native.emits if native else "") or "?", native.restrictions if native else ""
    if found.status == LOWERED:
        return LOWERED, f"{found.rule} -> {', '.join(sorted(set(found.creates))) or 'nothing'}", ""
    if found.status == REMOVED:
        return REMOVED, f"by {found.rule}", ""
    if found.status == CUSTOM:
        custom_kernel = getattr(caps, "custom_kernel", None)  # a format that carries the kernel itself
        if custom_kernel is not None:
            op, domain = node.op, node.domain
            node.op, node.domain = (
                found.custom_class,
                ir.CUSTOM_DOMAIN,
            )  # as custom::tag_custom_layers tags it
            try:
                kinds, how = custom_kernel(node)
            finally:
                node.op, node.domain = op, domain
            return CUSTOM, how, kinds
        return CUSTOM, kernel_note(found.custom_class), f"{kernel_kinds(found.custom_class)} kernels"
    return None


def classify(target: str | None = None, format: str = "neuralnetwork") -> Coverage:
    """The static part: every ONNX op's status on ``target`` in ``format`` (no node tests)."""
    from bridgec.driver.report import kernel_kinds
    from bridgec.runtime_kernels.catalog import kernel_for_op

    caps = capabilities(target, format)
    name = caps.target.name
    rules = _lowering_rules()
    result = []
    for op, since in onnx_ops():
        key = ("", op)
        native = caps.native(key)
        found, node = _probe(op, caps)
        decided = _from_plan(found, node, caps) if found is not None and node is not None else None
        if decided is not None:
            (status, how, restrictions), evidence = decided, "probe"
        else:
            evidence, restrictions = "table", ""
            if native is not None and native.missing is None:
                status, how, restrictions = NATIVE, native.emits, native.restrictions
            elif key in rules:
                status, how = LOWERED, ", ".join(rules[key])
            elif kernel_for_op(*key) is not None and caps.custom_layers:
                spec = kernel_for_op(*key)
                status, how = CUSTOM, spec.class_name
                restrictions = f"{kernel_kinds(spec.class_name)} kernels"
            elif native is not None:
                status, how = UNSUPPORTED, f"{native.emits} {native.missing}"
            elif _has_function_body(op):
                status, how = (
                    UNSUPPORTED,
                    (
                        "no one-input probe decides it; ONNX defines it by a function body, which "
                        "lower::onnx_function inlines where the target has the body's ops: the node tests "
                        "show the configurations that convert"
                    ),
                )
            else:
                what = {"neuralnetwork": "Core ML layer", "coreai": "Core AI op"}.get(format, "MIL op")
                status, how = UNSUPPORTED, f"no {what}, lowering rule or kernel"
        result.append(OpStatus(op, since, status, how, restrictions, evidence))
    return Coverage(caps.description, name, result, format=format)


def capabilities(target: str | None, format: str) -> Capabilities:
    """The capabilities a conversion to ``format`` for ``target`` plans with (Core AI or Core ML)."""
    if format == "coreai":
        from bridgec.backends.coreai.capabilities import capabilities_for as coreai_capabilities

        return coreai_capabilities(target)
    from bridgec.backends.coreml import capabilities_for

    return capabilities_for(target, (), format)


def build(
    target: str | None = None,
    node_tests: bool = False,
    pattern: str | None = None,
    format: str = "neuralnetwork",
) -> Coverage:
    start = time.monotonic()
    coverage = classify(target, format)
    if node_tests:
        coverage.tests = run_node_tests(coverage.target_name, pattern, format=format)
    coverage.seconds = time.monotonic() - start
    return coverage


__all__ = [
    "OUTCOMES",
    "STATUSES",
    "Coverage",
    "NodeTest",
    "OpStatus",
    "build",
    "capabilities",
    "classify",
    "onnx_ops",
    "plan_probe",
]
