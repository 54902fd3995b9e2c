"""Pipeline.run replaces CPython's automatic garbage collection by one young-generation collection per
pass (passes/_infra.py, _collect_per_pass): no full collection rescans the graph while passes run,
a pass's cyclic garbage is still freed before the next pass, and the collector comes back on after."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path

import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.core.errors import ConversionError
from tests.helpers import graph_from_text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from bench_scaling import synthetic  # noqa: E402 - the scaling benchmark's own graphs


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _graph():
    return graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[4] x) => (float[4] y) { y = Relu (x) }'
    )


def test_a_pass_garbage_is_collected_before_the_next_pass_runs():
    seen = {}

    class MakesGarbage(passes.Pass):
        id = "test::makes_garbage"

        def call(self, graph, ctx):
            seen["ref"] = weakref.ref(_Cycle())  # unreachable at once, but only a collection frees it
            return passes.PassResult(graph, False)

    class Looks(passes.Pass):
        id = "test::looks"

        def call(self, graph, ctx):
            seen["automatic"] = gc.isenabled()
            seen["alive"] = seen["ref"]() is not None
            return passes.PassResult(graph, False)

    assert gc.isenabled()
    passes.Pipeline([MakesGarbage(), Looks()]).run(_graph(), target=capabilities_for())
    assert seen == {"ref": seen["ref"], "automatic": False, "alive": False}
    assert gc.isenabled()


def test_the_collector_is_back_on_after_a_failing_pass():
    class Broken(passes.Pass):
        id = "test::broken_gc"

        def call(self, graph, ctx):
            raise RuntimeError("boom")

    with pytest.raises(ConversionError):
        passes.Pipeline([Broken()]).run(_graph(), target=capabilities_for())
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off():
    gc.disable()
    try:
        passes.pipeline("lower-custom").run(_graph(), target=capabilities_for())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_no_full_collection_while_the_default_pipeline_runs_on_a_large_graph():
    """The cause of the superlinear time: full collections rescanning the graph during the passes
    (two for this 8k-node graph without it, none with it)."""
    graph = synthetic(8000, "dag")
    gc.collect()
    before = gc.get_stats()[2]["collections"]
    out = passes.pipeline("lower-custom").run(graph, target=capabilities_for())
    assert gc.get_stats()[2]["collections"] == before
    assert len(out.nodes) > 1000
