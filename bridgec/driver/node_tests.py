"""ONNX's backend node tests run through bridgec: ``onnx.backend.test``'s node test cases (generated in
memory by onnx's ``case.node`` expect machinery: the wheel ships no node data), each converted and run
by ``bridgec.driver.onnx_backend.BridgecBackend``, with its outcome and the reason for it."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bridgec.core.words import plural

OUTCOMES = ("passed", "failed", "skipped")


@dataclass
class NodeTest:
    name: str
    op: str
    outcome: str  # one of OUTCOMES
    reason: str = ""


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
                wrong = mismatch(case, rep.outputs, rep.run(inputs), expected)
                if wrong:
                    return "failed", wrong
    except Unsupported as exc:
        return "skipped", str(exc).splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - any crash is a failure, recorded with its first line
        return "failed", failure(exc)
    return "passed", ""


def mismatch(case, names: list[str], got, expected) -> str | None:
    """Why the outputs ``got`` (in ``names`` order) fail the test's rtol/atol against ``expected``, or None."""
    if len(got) != len(expected):
        return f"{plural(got, 'output')}, expected {len(expected)}"
    for name, g, want in zip(names, got, expected, strict=True):
        want = np.asarray(want)
        g = np.asarray(g)
        if g.shape != want.shape:
            return f"output {name}: shape {g.shape}, expected {want.shape}"
        bad = ~np.isclose(g, want.astype(g.dtype), rtol=case.rtol, atol=case.atol, equal_nan=True)
        if bad.any():
            err = float(np.nanmax(np.abs(g.astype(np.float64) - want.astype(np.float64))))
            return f"output {name}: max abs error {err:.3g} (rtol {case.rtol}, atol {case.atol})"
    return None


def failure(exc: BaseException) -> str:
    """A crash as a test's failure reason: its type and first line."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:300]


def run_node_tests(
    target: str | None = None,
    pattern: str | None = None,
    progress: Callable[[str], None] | None = None,
    format: str = "neuralnetwork",
) -> list[NodeTest]:
    cases = load_node_tests(pattern)
    by_name = {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}
    if format == "coreai":  # converted here, run by Apple's runtime in one batch (a child process)
        outcomes = _run_coreai_cases(cases, target, progress)
        return [
            NodeTest(case.name, _op_of_test(case, by_name), outcome, _stable(reason))
            for case, (outcome, reason) in zip(cases, outcomes, strict=True)
        ]
    results = []
    for i, case in enumerate(cases):
        if progress and i % 200 == 0:
            progress(f"node tests: {i}/{len(cases)}")
        outcome, reason = run_node_test(case, target, format)
        results.append(NodeTest(case.name, _op_of_test(case, by_name), outcome, _stable(reason)))
    return results


def _run_coreai_cases(
    cases: list, target: str | None = None, progress: Callable[[str], None] | None = None
) -> list[tuple[str, str]]:
    """(outcome, reason) of each node test case on Core AI ``target``, in order: every case converted
    (``node_tests_coreai``), then every saved model run by Apple's runtime in one child process."""
    import tempfile
    from pathlib import Path

    from bridgec.backends.coreai import require_coreai
    from bridgec.backends.coreai.run import CoreAIRunError, run_batch
    from bridgec.driver.node_tests_coreai import Prepared, as_onnx, prepare, to_array
    from bridgec.driver.onnx_backend import Unsupported

    require_coreai()
    outcomes: list[tuple[str, str] | None] = [None] * len(cases)
    prepared: dict[int, Prepared] = {}
    with tempfile.TemporaryDirectory(prefix="bridgec-coreai-nodes-") as tmp:
        for i, case in enumerate(cases):
            if progress and i % 200 == 0:
                progress(f"node tests (Core AI): converting {i}/{len(cases)}")
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    prepared[i] = prepare(case, target, Path(tmp))
            except Unsupported as exc:
                outcomes[i] = ("skipped", str(exc).splitlines()[0])
            except Exception as exc:  # noqa: BLE001 - any crash is a failure, recorded with its first line
                outcomes[i] = ("failed", failure(exc))
        jobs = [(i, feeds) for i, p in prepared.items() for feeds in p.feeds]
        if progress:
            progress(f"node tests (Core AI): running {plural(jobs, 'model')} in Apple's runtime")
        results = run_batch([(prepared[i].model, feeds) for i, feeds in jobs])
    got: dict[int, list] = {}
    for (i, _), result in zip(jobs, results, strict=True):
        got.setdefault(i, []).append(result)
    for i, p in prepared.items():
        case = cases[i]
        outcome = ("passed", "")
        for result, (_, expected) in zip(got.get(i, []), case.data_sets, strict=True):
            if isinstance(result, CoreAIRunError):
                outcome = ("failed", f"CoreAIRunError: {result}"[:300])
                break
            missing = [n for n in p.outputs if n not in result]
            if missing:
                outcome = ("failed", f"Apple's runtime gave no output {missing[0]!r}")
                break
            values = [as_onnx(result[n], p.dtypes.get(n)) for n in p.outputs]
            wrong = mismatch(case, p.outputs, values, [to_array(e) for e in expected])
            if wrong:
                outcome = ("failed", wrong)
                break
        outcomes[i] = outcome
    return outcomes  # type: ignore[return-value] - every case has its outcome now


def _stable(reason: str) -> str:
    """Reasons go into a committed document: drop what changes between runs (addresses, temp paths)."""
    reason = re.sub(r"0x[0-9a-f]+", "0x…", reason)
    return re.sub(r"/tmp/[^\s:'\"]+", "/tmp/…", reason)


__all__ = [
    "OUTCOMES",
    "NodeTest",
    "failure",
    "load_node_tests",
    "mismatch",
    "run_node_test",
    "run_node_tests",
]
