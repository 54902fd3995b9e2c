"""onnxruntime on a large graph in pieces: the same outputs as the whole session, every graph shape
the pieces must carry across (functions, subgraphs' outer reads, constants, odd outputs)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridgec.core import ir, runtimes
from bridgec.core.errors import ConversionError
from tests.helpers import load_tool

WHOLE = {"split_above": 10**9}
F = TensorProto.FLOAT


@pytest.fixture
def sessions(monkeypatch):
    """How many onnxruntime sessions a run builds: more than one when it ran in pieces."""
    count = [0]
    run = runtimes._run_session

    def counted(*args):
        count[0] += 1
        return run(*args)

    monkeypatch.setattr(runtimes, "_run_session", counted)
    return count


def in_pieces(model, feeds, sessions, piece_nodes, at_least=2):
    sessions[0] = 0
    got = runtimes.run_model(model, feeds, split_above=0, piece_nodes=piece_nodes)
    assert sessions[0] >= at_least
    return got


def assert_same(whole, pieces):
    assert list(whole) == list(pieces)
    for name, value in whole.items():
        assert pieces[name].dtype == value.dtype, name
        np.testing.assert_array_equal(pieces[name], value, err_msg=name)


@pytest.mark.parametrize("shape", ["chain", "dag"])
def test_synthetic_9k_nodes_in_pieces_equal_the_whole_session(shape, sessions):
    bench = load_tool("tools/bench_scaling.py")
    model = ir.export_model(bench.synthetic(9000, shape))
    assert any(f.domain == ir.BRIDGEC_DOMAIN for f in model.functions)  # HardTanh, a function op
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    whole = runtimes.run_model(model, feeds, **WHOLE)
    assert sessions[0] == 1
    assert_same(whole, in_pieces(model, feeds, sessions, 1000, at_least=9))
    # the default threshold splits a graph this large
    sessions[0] = 0
    assert_same(whole, runtimes.run_model(model, feeds))
    assert sessions[0] >= 9


def test_intermediates_in_pieces(sessions):
    bench = load_tool("tools/bench_scaling.py")
    model = runtimes.with_intermediates(ir.export_model(bench.synthetic(300, "dag")))
    assert len(model.graph.output) == 300
    feeds = {"x": np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    assert_same(runtimes.run_model(model, feeds, **WHOLE), in_pieces(model, feeds, sessions, 40))


def function_model():
    """Two nested model-local functions (Twice calls Double) and one no node uses."""
    double = helper.make_function(
        "ai.test",
        "Double",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    twice = helper.make_function(
        "ai.test",
        "Twice",
        ["a"],
        ["c"],
        [
            helper.make_node("Double", ["a"], ["b"], domain="ai.test"),
            helper.make_node("Double", ["b"], ["c"], domain="ai.test"),
        ],
        [helper.make_opsetid("", 17), helper.make_opsetid("ai.test", 1)],
    )
    unused = helper.make_function(
        "ai.test",
        "Unused",
        ["a"],
        ["b"],
        [helper.make_node("Neg", ["a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    nodes = [
        helper.make_node("Relu", ["x"], ["t0"]),
        helper.make_node("Twice", ["t0"], ["t1"], domain="ai.test"),
        helper.make_node("Sigmoid", ["t1"], ["t2"]),
        helper.make_node("Double", ["t2"], ["t3"], domain="ai.test"),
        helper.make_node("Add", ["t3", "t0"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "f",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info("y", F, [2, 3])],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.test", 1)],
        functions=[double, twice, unused],
    )


def test_model_local_functions_go_with_the_pieces_that_call_them(sessions):
    model = function_model()
    feeds = {"x": np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)}
    assert_same(runtimes.run_model(model, feeds, **WHOLE), in_pieces(model, feeds, sessions, 1, at_least=4))
    used = runtimes._functions_used(model, [model.graph.node[1]])
    assert sorted(f.name for f in used) == ["Double", "Twice"]
    assert runtimes._functions_used(model, [model.graph.node[0]]) == []


def if_model():
    """An If whose branches read tensors made two and three nodes before it (outer scope)."""
    then = helper.make_graph(
        [helper.make_node("Add", ["r", "n"], ["out_then"])],
        "then",
        [],
        [helper.make_tensor_value_info("out_then", F, [4])],
    )
    other = helper.make_graph(
        [
            helper.make_node("Mul", ["r", "r"], ["inner"]),
            helper.make_node("Sub", ["inner", "n"], ["out_else"]),
        ],
        "else",
        [],
        [helper.make_tensor_value_info("out_else", F, [4])],
    )
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Neg", ["x"], ["n"]),
        helper.make_node("Abs", ["x"], ["a"]),
        helper.make_node("If", ["c"], ["z"], then_branch=then, else_branch=other),
        helper.make_node("Add", ["z", "a"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "if",
        [
            helper.make_tensor_value_info("x", F, [4]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", F, [4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("condition", [True, False])
def test_if_branches_read_earlier_pieces(condition, sessions):
    model = if_model()
    feeds = {"x": np.array([-2.0, -0.5, 0.5, 3.0], np.float32), "c": np.array(condition)}
    plan = runtimes._plan_pieces(model, feeds, 1)
    assert set(plan.reads[3]) == {"c", "n", "r"}  # the If reads its branches' outer tensors
    whole = runtimes.run_model(model, feeds, **WHOLE)
    assert_same(whole, in_pieces(model, feeds, sessions, 1, at_least=4))
    x = feeds["x"]
    np.testing.assert_allclose(
        whole["y"], (np.maximum(x, 0) - x if condition else np.maximum(x, 0) ** 2 + x) + abs(x)
    )


def odd_outputs_model():
    """Graph outputs that are an initializer, a graph input, listed twice, a constant made by
    nodes; an optional input left empty; a Clip bound behind an Identity read pieces later; an
    initializer that is also a graph input (a fed value replaces it)."""
    nodes = [
        helper.make_node("Identity", ["hi"], ["hi_copy"]),
        helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array(2.0, np.float32))),
        helper.make_node("Mul", ["k", "k"], ["k2"]),
        helper.make_node("Relu", ["x"], ["t0"]),
        helper.make_node("Neg", ["t0"], ["t1"]),
        helper.make_node("Clip", ["t1", "", "hi_copy"], ["t2"]),
        helper.make_node("Mul", ["t2", "k2"], ["t3"]),
        helper.make_node("Add", ["t3", "bias"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "odd",
        [helper.make_tensor_value_info("x", F, [3]), helper.make_tensor_value_info("bias", F, [3])],
        [
            helper.make_tensor_value_info("y", F, [3]),
            helper.make_tensor_value_info("w", F, [3]),
            helper.make_tensor_value_info("x", F, [3]),
            helper.make_tensor_value_info("y", F, [3]),
            helper.make_tensor_value_info("k2", F, []),
            helper.make_tensor_value_info("bias", F, [3]),
        ],
        initializer=[
            numpy_helper.from_array(np.array(-0.25, np.float32), "hi"),
            numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "w"),
            numpy_helper.from_array(np.array([10.0, 20.0, 30.0], np.float32), "bias"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("fed_bias", [False, True])
def test_outputs_that_are_initializers_inputs_or_constants(fed_bias, sessions):
    model = odd_outputs_model()
    feeds = {"x": np.array([-1.0, 0.1, 2.0], np.float32)}
    if fed_bias:
        feeds["bias"] = np.array([-1.0, -2.0, -3.0], np.float32)
    whole = runtimes.run_model(model, feeds, **WHOLE)
    assert list(whole) == ["y", "w", "x", "k2", "bias"]
    plan = runtimes._plan_pieces(model, feeds, 1)
    folded = {model.graph.node[i].output[0] for i in set(plan.constant.values())}
    assert folded == {"hi_copy", "k", "k2"}  # each piece computes them again, not fed across
    pieces = in_pieces(model, feeds, sessions, 1, at_least=4)
    assert_same(whole, pieces)
    assert pieces["x"] is not feeds["x"]
    bias = feeds.get("bias", np.array([10.0, 20.0, 30.0], np.float32))
    np.testing.assert_array_equal(whole["y"], np.minimum(-np.maximum(feeds["x"], 0), -0.25) * 4 + bias)


def test_a_broken_feed_fails_as_in_the_whole_session():
    model = function_model()
    for feeds in ({}, {"x": np.zeros((2, 3), np.float32), "nope": np.zeros(1, np.float32)}):
        with pytest.raises(ConversionError) as whole:
            runtimes.run_model(model, feeds, **WHOLE)
        with pytest.raises(ConversionError) as pieces:
            runtimes.run_model(model, feeds, split_above=0, piece_nodes=1)
        assert str(pieces.value) == str(whole.value)


def test_a_failing_node_in_a_piece_is_named():
    model = function_model()
    model.graph.node[2].op_type = "NoSuchOp"
    with pytest.raises(ConversionError, match="onnxruntime could not run the graph: .*NoSuchOp"):
        runtimes.run_model(model, {"x": np.zeros((2, 3), np.float32)}, split_above=0, piece_nodes=1)
