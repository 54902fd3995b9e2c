"""Pass infrastructure: registry, pipelines as data, failures that name the pass, invariants."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.core.errors import ConversionError, UsageError
from tests.helpers import graph_from_text, op_types, run_graph


def relu_graph():
    return graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[4] x) => (float[4] y) '
        "{ t = Identity (x) u = Relu (t) y = Identity (u) }"
    )


def test_every_pipeline_names_registered_passes():
    for name, ids in passes.PIPELINES.items():
        assert all(pass_id in passes.REGISTRY for pass_id in ids), name
        assert passes.pipeline(name).id == name
    with pytest.raises(UsageError, match="unknown pipeline -O 'fast'; choose one of: none, lower"):
        passes.pipeline("fast")


def test_registry_refuses_duplicates_and_unnamespaced_ids():
    class Twin(passes.Pass):
        id = "cleanup::dead_nodes"

    with pytest.raises(ValueError, match="registered twice"):
        passes.register(Twin)

    class Plain(passes.Pass):
        id = "plain"

    with pytest.raises(ValueError, match="namespaced id"):
        passes.register(Plain)


def test_a_failing_pass_is_named_with_the_passes_before_it():
    class Broken(passes.Pass):
        id = "test::broken"

        def call(self, graph, ctx):
            raise KeyError("boom")

    pipeline = passes.Pipeline([passes.DeadNodes(), Broken()])
    with pytest.raises(
        ConversionError, match=r"pass test::broken failed: KeyError.*before it: cleanup::dead_nodes"
    ):
        pipeline.run(relu_graph(), target=capabilities_for())


def test_a_pass_that_renames_graph_outputs_is_caught():
    class Renamer(passes.Pass):
        id = "test::renamer"

        def call(self, graph, ctx):
            graph.outputs[0].name = "renamed"
            return passes.PassResult(graph, True)

    with pytest.raises(ConversionError, match="changed the graph's inputs or outputs"):
        passes.Pipeline([Renamer()]).run(relu_graph(), target=capabilities_for())


def test_identities_are_removed_but_output_names_kept():
    graph = relu_graph()
    context = passes.PassContext(capabilities=capabilities_for())
    cleaned = passes.Pipeline([passes.cleanup()]).run(graph, context=context)
    assert op_types(cleaned) == ["Relu"]
    assert [t.name for t in cleaned.outputs] == ["y"] and [t.name for t in cleaned.inputs] == ["x"]
    assert set(context.removed_by.values()) == {"cleanup::identities"}
    x = np.array([-1, 0, 2, -3], dtype=np.float32)
    np.testing.assert_array_equal(run_graph(cleaned, {"x": x})[0], np.maximum(x, 0))


def test_identity_between_input_and_output_stays():
    graph = graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[4] x) => (float[4] y) { y = Identity (x) }'
    )
    cleaned = passes.Pipeline([passes.cleanup()]).run(graph, target=capabilities_for())
    assert op_types(cleaned) == ["Identity"]


def test_constant_folding_keeps_float32():
    graph = graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[4] x) => (float[4] y) '
        "{ a = Constant <value_float = 2.0> () b = Constant <value_float = 3.0> () c = Mul (a, b) y = Add (x, c) }"
    )
    cleaned = passes.Pipeline([passes.cleanup()]).run(graph, target=capabilities_for())
    assert op_types(cleaned) == ["Add"]
    constant = cleaned.nodes[0].inputs[1]
    assert isinstance(constant, gs.Constant) and constant.values.dtype == np.float32
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(run_graph(cleaned, {"x": x})[0], x + 6)


def test_fixed_point_runs_until_stable_within_the_step_limit():
    calls = []

    class CountDown(passes.Pass):
        id = "test::count_down"

        def call(self, graph, ctx):
            calls.append(1)
            return passes.PassResult(graph, len(calls) < 3)

    passes.Pipeline([passes.Sequential([CountDown()], until_stable=True, max_steps=10)]).run(
        relu_graph(), target=capabilities_for()
    )
    assert len(calls) == 3
    calls.clear()
    passes.Pipeline([passes.Sequential([CountDown()], until_stable=True, max_steps=2)]).run(
        relu_graph(), target=capabilities_for()
    )
    assert len(calls) == 2


def test_check_target_legal_lists_every_offending_op():
    graph = graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[4] x) => (float[4] y) '
        "{ a = Round (x) b = Hardmax (a) y = Round (b) }"
    )
    with pytest.raises(ConversionError) as caught:
        passes.pipeline("lower").run(graph, target=capabilities_for())
    message = str(caught.value)
    assert "Hardmax x1" in message and "Round x2" in message and "-O lower-custom" in message
