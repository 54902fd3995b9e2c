"""Per-target op coverage: every operator of the default ONNX domain, what bridgec does with it on a
Core ML target, and what ONNX's own backend node tests say when run through bridgec.

Nothing here is a hand list. An op's status comes from the machinery a conversion uses:

* ops with one float input and no required attribute are **probed**: a one-node model at the
  latest opset goes through the frontend (normalisation to the ``ai.bridgec`` form) and the
  ``-O lower-custom`` passes, and the per-model report (``bridgec.driver.report``) says what became of it;
* otherwise (and where the probe's default attributes are refused) the op table
  (``backends/coreml/ops``: emitter, ``min_spec``, capability check and its restrictions) decides
  native, the lowering pipelines' ``RuleSet``s (their rules' root op keys) decide lowered, and the
  kernel catalog decides custom with kernel.

Node tests are ``onnx.backend.test``'s node test cases (generated in memory by onnx's
``case.node`` expect machinery: the wheel ships no node data) run through
``bridgec.driver.onnx_backend.BridgecBackend``.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

PIPELINE = "lower-custom"
STATUSES = ("native", "lowered", "removed", "custom", "unsupported")
OUTCOMES = ("passed", "failed", "skipped")
PROBE_SHAPE = (1, 3, 8, 8)


@dataclass
class OpStatus:
    op: str
    since: int  # the opset version of the op's latest schema
    status: str  # one of STATUSES
    how: str  # Core ML layer, "pass/rule -> ops", custom class and kernels, or why not
    restrictions: str = ""  # what the capability check requires (native ops)
    evidence: str = ""  # "probe" (a one-node model through the passes) or "table"


@dataclass
class NodeTest:
    name: str
    op: str
    outcome: str  # one of OUTCOMES
    reason: str = ""


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
        return "ML Program" if self.format == "mlprogram" else "NeuralNetwork"

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
            f"Of the {len(self.ops)} operators of the default ONNX domain (opset {latest_opset()}), "
            f"Core ML {self.format_name} for {self.target_name} runs {c['native']} natively, {c['lowered']} "
            f"through lowering rules, {c['custom']} as custom layers with bundled Swift/Metal kernels"
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
            f"{len(self.ops)} operators of the default ONNX domain at opset {latest_opset()}: "
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
            f"converted with `-O {PIPELINE}` for {self.target} and run by the reference executor, "
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
            "Generated by `python tools/gen_coverage.py` (do not edit; `tests/test_coverage.py` fails when "
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


def _probe(op: str, target: str, format: str = "neuralnetwork"):
    """The per-model report row of a one-node ``op`` model through the passes, or None."""
    from pathlib import Path

    from bridgec.driver.report import analyze_graph
    from bridgec.frontends.onnx_file import graph_from_model

    model = _probe_model(op)
    if model is None:
        return None, None
    try:
        graph = graph_from_model(model, Path(f"{op}.onnx"))
        report = analyze_graph(graph, pipeline=PIPELINE, target=target, format=format)
    except Exception:  # noqa: BLE001 - the frontend or a pass refuses the probe: decide from the table
        return None, None
    rows = [r for r in report.rows if f"{op}_probe" in r.nodes]
    return (rows[0] if rows else None), report


def classify(target: str | None = None, format: str = "neuralnetwork") -> Coverage:
    """The static part: every ONNX op's status on ``target`` in ``format`` (no node tests)."""
    from bridgec.backends.coreml import capabilities_for
    from bridgec.backends.coreml.targets import ios_name
    from bridgec.driver.report import kernel_kinds
    from bridgec.runtime_kernels.catalog import kernel_for_op

    caps = capabilities_for(target, (), format)
    name = caps.target.name
    rules = _lowering_rules()
    result = []
    for op, since in onnx_ops():
        key = ("", op)
        emitter = caps.emitter_for(key)
        row, report = _probe(op, name, format)
        status = None
        converts = row is not None and (
            row.status in ("native", "lowered", "removed") or row.kernel not in (None, "none")
        )
        if converts:
            status, how = row.status, row.how
            restrictions = ""
            if row.status == "native":
                final = [n for n in report.graph.nodes if n.name == row.nodes[0]]
                found = caps.emitter(final[0]) if final else emitter
                restrictions = found.restrictions if found else ""
            elif row.status == "custom":
                restrictions = f"{kernel_kinds(_class_of(row.how))} kernels"
            evidence = "probe"
        if status is None:
            evidence, restrictions = "table", ""
            if emitter is not None and emitter.min_spec_version <= caps.target.spec_version:
                status, how, restrictions = "native", emitter.emits, emitter.restrictions
            elif key in rules:
                status, how = "lowered", ", ".join(rules[key])
            elif kernel_for_op(*key) is not None and caps.custom_layers:
                spec = kernel_for_op(*key)
                status, how = "custom", spec.class_name
                restrictions = f"{kernel_kinds(spec.class_name)} kernels"
            elif emitter is not None:
                status, how = (
                    "unsupported",
                    f"{emitter.emits} needs {ios_name(emitter.min_spec_version)} or newer",
                )
            else:
                what = "Core ML layer" if format == "neuralnetwork" else "MIL op"
                status, how = "unsupported", f"no {what}, lowering rule or kernel"
        result.append(OpStatus(op, since, status, how, restrictions, evidence))
    return Coverage(caps.description, name, result, format=format)


def _class_of(how: str) -> str:
    return how.split(" ", 1)[0]


def _op_of_test(case, by_name: dict[str, str]) -> str:
    nodes = case.model.graph.node
    base = re.sub(r"_expanded(_ver\d+)?$", "", case.name)
    if base != case.name and base in by_name:
        return by_name[base]
    return nodes[0].op_type if len(nodes) >= 1 else "?"


def load_node_tests(pattern: str | None = None) -> list:
    """onnx's node test cases (models + data generated in memory), optionally filtered by a regex."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    if pattern:
        cases = [c for c in cases if re.search(pattern, c.name)]
    return sorted(cases, key=lambda c: c.name)


def run_node_test(case, target: str | None = None, format: str = "neuralnetwork") -> tuple[str, str]:
    """(outcome, reason) of one node test through BridgecBackend."""
    from bridgec.driver.onnx_backend import BridgecBackend, Unsupported

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            rep = BridgecBackend.prepare(case.model, target=target, format=format)
            for inputs, expected in case.data_sets:
                got = rep.run(inputs)
                if len(got) != len(expected):
                    return "failed", f"{len(got)} outputs, expected {len(expected)}"
                for name, g, want in zip(rep.outputs, got, expected, strict=True):
                    want = np.asarray(want)
                    g = np.asarray(g)
                    if g.shape != want.shape:
                        return "failed", f"output {name}: shape {g.shape}, expected {want.shape}"
                    bad = ~np.isclose(g, want.astype(g.dtype), rtol=case.rtol, atol=case.atol, equal_nan=True)
                    if bad.any():
                        err = float(np.nanmax(np.abs(g.astype(np.float64) - want.astype(np.float64))))
                        return (
                            "failed",
                            f"output {name}: max abs error {err:.3g} (rtol {case.rtol}, atol {case.atol})",
                        )
    except Unsupported as exc:
        return "skipped", str(exc).splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - any crash is a failure, recorded with its first line
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return "failed", f"{type(exc).__name__}: {message}"[:300]
    return "passed", ""


def run_node_tests(
    target: str | None = None,
    pattern: str | None = None,
    progress: Callable[[str], None] | None = None,
    format: str = "neuralnetwork",
) -> list[NodeTest]:
    cases = load_node_tests(pattern)
    by_name = {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}
    results = []
    for i, case in enumerate(cases):
        if progress and i % 200 == 0:
            progress(f"node tests: {i}/{len(cases)}")
        outcome, reason = run_node_test(case, target, format)
        results.append(NodeTest(case.name, _op_of_test(case, by_name), outcome, _stable(reason)))
    return results


def _stable(reason: str) -> str:
    """Reasons go into a committed document: drop what changes between runs (addresses, temp paths)."""
    reason = re.sub(r"0x[0-9a-f]+", "0x…", reason)
    return re.sub(r"/tmp/[^\s:'\"]+", "/tmp/…", reason)


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
    "classify",
    "load_node_tests",
    "onnx_ops",
    "run_node_test",
    "run_node_tests",
]


# --- the generated documents ------------------------------------------------------------------------

README_BEGIN = "<!-- coverage:begin (generated by tools/gen_coverage.py; do not edit) -->"
README_END = "<!-- coverage:end -->"
DOC_TARGET = "iOS14"  # docs/coverage.md's full table and node tests: the newest NeuralNetwork features
ML_DOC_TARGET = "iOS15"  # docs/coverage-mlprogram.md's: bridgec's default target, ML Program


def other_targets() -> list[str]:
    """One target per NeuralNetwork specification version other than DOC_TARGET's (iOS names)."""
    from bridgec.backends.coreml.neuralnetwork import NEURALNETWORK_MAX_SPEC
    from bridgec.backends.coreml.targets import SPEC_VERSIONS

    seen = {SPEC_VERSIONS[DOC_TARGET]}
    names = []
    for name, spec in SPEC_VERSIONS.items():
        if spec not in seen and name.startswith("iOS") and spec <= NEURALNETWORK_MAX_SPEC:
            seen.add(spec)
            names.append(name)
    return names


def document(main: Coverage, others: list[Coverage]) -> str:
    """docs/coverage.md: DOC_TARGET in full (with node tests), the other targets as differences."""
    text = main.to_markdown()
    for other in [o for o in others if o.format == main.format]:
        c = other.counts()
        differ = [
            (a, b) for a, b in zip(main.ops, other.ops, strict=True) if (a.status, a.how) != (b.status, b.how)
        ]
        text += "\n".join(
            [
                "",
                f"## {other.target}",
                "",
                ", ".join(f"{c[s]} {s}" for s in STATUSES)
                + f". Operators whose status differs from {main.target_name}:",
                "",
                f"| op | {main.target_name} | {other.target_name} |",
                "|---|---|---|",
                *[
                    f"| `{a.op}` | {a.status}: {_cell(a.how)} | {b.status}: {_cell(b.how)} |"
                    for a, b in differ
                ],
                "",
            ]
        )
    return text


def readme_block(main: Coverage, others: list[Coverage]) -> str:
    lines = [
        README_BEGIN,
        "Op coverage ([docs/coverage.md](docs/coverage.md), [docs/coverage-mlprogram.md]"
        "(docs/coverage-mlprogram.md); `bridgec coverage --target T --model-format F`): of the "
        f"{len(main.ops)} operators of the default ONNX domain (opset {latest_opset()}),",
        "",
        "| format, target | native | lowered | custom with kernel | removed (no-op) | unsupported | ONNX node tests |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for cov in [main, *others]:
        c = cov.counts()
        t = cov.test_counts()
        tests = (
            f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped"
            if cov.tests is not None
            else "not run"
        )
        lines.append(
            f"| {cov.format_name}, {cov.target_name} | {c['native']} | {c['lowered']} | {c['custom']} | "
            f"{c['removed']} | {c['unsupported']} | {tests} |"
        )
    lines += [README_END]
    return "\n".join(lines)


def replace_readme_block(readme: str, block: str) -> str:
    if README_BEGIN not in readme or README_END not in readme:
        raise ValueError("README.md has no coverage markers")
    head, rest = readme.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return head + block + tail


_TEST_ROW = re.compile(r"^\| (test_\S+) \| `([^`]*)` \| (passed|failed|skipped) \| (.*) \|$")


def parse_tests(markdown: str) -> list[NodeTest] | None:
    """The node-test results recorded in a docs/coverage.md (its "Every test" table)."""
    if "### Every test" not in markdown:
        return None
    section = markdown.split("### Every test", 1)[1].split("\n## ", 1)[0]
    tests = []
    for line in section.splitlines():
        match = _TEST_ROW.match(line)
        if match:
            name, op, outcome, reason = match.groups()
            tests.append(NodeTest(name, op, outcome, reason.replace("\\|", "|")))
    return tests


def generate(
    tests: list[NodeTest] | None = None, ml_tests: list[NodeTest] | None = None
) -> tuple[Coverage, list[Coverage]]:
    """Everything the documents need: the NeuralNetwork main target, then the other NeuralNetwork
    targets and the ML Program. ``tests``/``ml_tests`` given (e.g. parsed from the committed
    documents) skip running the node tests."""
    main = classify(DOC_TARGET)
    main.tests = tests if tests is not None else run_node_tests(DOC_TARGET)
    ml = classify(ML_DOC_TARGET, "mlprogram")
    ml.tests = ml_tests if ml_tests is not None else run_node_tests(ML_DOC_TARGET, format="mlprogram")
    return main, [*[classify(name) for name in other_targets()], ml]


def mlprogram_document(others: list[Coverage]) -> str:
    """docs/coverage-mlprogram.md: the ML Program target in full, with its node tests."""
    return next(o for o in others if o.format == "mlprogram").to_markdown()
