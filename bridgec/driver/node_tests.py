"""ONNX's backend node tests run through bridgec: ``onnx.backend.test``'s node test cases (generated in
memory by onnx's ``case.node`` expect machinery: the wheel ships no node data), each converted and run
by ``bridgec.driver.onnx_backend.BridgecBackend``, with its outcome and the reason for it."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


__all__ = ["OUTCOMES", "NodeTest", "load_node_tests", "run_node_test", "run_node_tests"]
