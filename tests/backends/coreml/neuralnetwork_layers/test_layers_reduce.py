"""Reduction and selection emitters (backends/coreml/neuralnetwork_layers/reduce.py) against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)
from tests.helpers import assert_matches

X = "float[2,3,4,5] x"


def axes(values: str) -> str:
    return f"a = Constant <value = int64[{len(values.split(','))}] {{{values}}}> ()\n "


# name: (output declaration, body, feed transform, opset)
CASES = {
    "sum_keep": ("float[2,1,4,1] y", axes("1, -1") + "y = ReduceSum (x, a)", None, 18),
    "sum_all": ("float[1,1,1,1] y", "y = ReduceSum (x)", None, 18),
    "sum_13": ("float[2,4,5] y", axes("1") + "y = ReduceSum <keepdims = 0> (x, a)", None, 13),
    "sum_noop": ("float[2,3,4,5] y", "y = ReduceSum <noop_with_empty_axes = 1> (x)", None, 18),
    "max": ("float[2,3,5] y", axes("2") + "y = ReduceMax <keepdims = 0> (x, a)", None, 18),
    "min": ("float[2,3,4,1] y", axes("3") + "y = ReduceMin (x, a)", None, 18),
    "max_13_attr": ("float[2,1,4,5] y", "y = ReduceMax <axes = [1]> (x)", None, 13),
    "prod": ("float[2,3,1,5] y", axes("2") + "y = ReduceProd (x, a)", lambda x: 0.5 + np.abs(x) / 4, 18),
    "l1": ("float[1,3,4,5] y", axes("0") + "y = ReduceL1 (x, a)", None, 18),
    "l2": ("float[2,1,1,5] y", axes("1, 2") + "y = ReduceL2 (x, a)", None, 18),
    "sum_square": ("float[2,3,4,1] y", axes("-1") + "y = ReduceSumSquare (x, a)", None, 18),
    "log_sum": ("float[2,3,4,1] y", axes("-1") + "y = ReduceLogSum (x, a)", np.abs, 18),
    "log_sum_exp": ("float[2,3,1,5] y", axes("2") + "y = ReduceLogSumExp (x, a)", lambda x: x * 20, 18),
    # noop_with_empty_axes: "composite-reduction operators will still perform the non-reduction steps"
    "l1_noop": ("float[2,3,4,5] y", "y = ReduceL1 <noop_with_empty_axes = 1> (x)", None, 18),
    "l2_noop": ("float[2,3,4,5] y", "y = ReduceL2 <noop_with_empty_axes = 1> (x)", None, 18),
    "sum_square_noop": ("float[2,3,4,5] y", "y = ReduceSumSquare <noop_with_empty_axes = 1> (x)", None, 18),
    "log_sum_noop": ("float[2,3,4,5] y", "y = ReduceLogSum <noop_with_empty_axes = 1> (x)", np.abs, 18),
    "log_sum_exp_noop": ("float[2,3,4,5] y", "y = ReduceLogSumExp <noop_with_empty_axes = 1> (x)", None, 18),
    "argmax": ("int64[2,1,4,5] y", "y = ArgMax <axis = 1> (x)", None, 13),
    "argmax_drop": ("int64[2,3,4] y", "y = ArgMax <axis = -1, keepdims = 0> (x)", None, 13),
    "argmin": ("int64[2,3,1,5] y", "y = ArgMin <axis = 2> (x)", None, 13),
    "argmax_ties": ("int64[2,3,4,1] y", "y = ArgMax <axis = 3> (x)", lambda x: np.round(x / 4), 13),
    "topk": (
        "float[2,3,4,2] v, int64[2,3,4,2] i",
        "k = Constant <value = int64[1] {2}> ()\n v, i = TopK (x, k)",
        None,
        13,
    ),
    "topk_smallest_axis1": (
        "float[2,2,4,5] v, int64[2,2,4,5] i",
        "k = Constant <value = int64[1] {2}> ()\n v, i = TopK <axis = 1, largest = 0> (x, k)",
        lambda x: np.round(x),  # ties: the lower index first
        13,
    ),
    "cumsum": ("float[2,3,4,5] y", "a = Constant <value = int64 {2}> ()\n y = CumSum (x, a)", None, 14),
    "cumsum_exclusive_reverse": (
        "float[2,3,4,5] y",
        "a = Constant <value = int64 {-1}> ()\n y = CumSum <exclusive = 1, reverse = 1> (x, a)",
        None,
        14,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_emitted_reductions_match_onnxruntime(case):
    outputs, body, feed, opset = CASES[case]
    for target in ("iOS13", "iOS14") if not case.startswith("cumsum") else ("iOS14",):
        assert_matches_onnxruntime(model_text(X, outputs, body, opset), target, feed)


def test_cumsum_needs_ios14():
    text = model_text(X, "float[2,3,4,5] y", "a = Constant <value = int64 {2}> ()\n y = CumSum (x, a)", 14)
    assert "needs iOS14" in unsupported_reason(text, "iOS13")


@pytest.mark.parametrize(
    "inputs, outputs, body, reason",
    [
        (X + ", int64[1] a", "float y", "y = ReduceSum (x, a)", "axes must be constant"),
        (X + ", int64[1] k", "float v, int64 i", "v, i = TopK (x, k)", "K must be constant"),
        (X, "int64 y", "y = ArgMax <select_last_index = 1> (x)", "first index of a tie"),
    ],
)
def test_runtime_or_unmappable_arguments_are_refused(inputs, outputs, body, reason):
    assert reason in unsupported_reason(model_text(inputs, outputs, body, 18))


def test_topk_unsorted_is_emitted_sorted():
    # sorted=0: "order of returned 'Values' and 'Indices' are undefined" -- Core ML's sorted order is
    # one of them, so both sides are compared in index order
    from bridgec.backends.coreml.executor import run as run_coreml
    from bridgec.backends.coreml.neuralnetwork import build_spec
    from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import feeds_for
    from tests.helpers import graph_from_text, run_graph

    text = model_text(
        X,
        "float[2,3,4,2] v, int64[2,3,4,2] i",
        "k = Constant <value = int64[1] {2}> ()\n v, i = TopK <sorted = 0> (x, k)",
    )
    assert unsupported_reason(text) is None
    graph = graph_from_text(text)
    values = feeds_for(graph, np.round)  # ties
    want = run_graph(graph, values)
    got = run_coreml(build_spec(graph.copy(), "iOS14"), values)

    def by_index(v: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(i, axis=-1, kind="stable")
        return np.take_along_axis(v, order, -1), np.take_along_axis(i, order, -1)

    (v_got, i_got), (v_want, i_want) = by_index(got["v"], got["i"]), by_index(*want)
    np.testing.assert_array_equal(i_got, i_want)
    assert_matches(v_got, v_want, tolerance=0)
