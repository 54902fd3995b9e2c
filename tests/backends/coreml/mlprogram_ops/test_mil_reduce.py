"""ReduceX and ArgMax/ArgMin as MIL ops, against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, graph

POSITIVE = {"x": np.random.default_rng(0).uniform(0.5, 1.5, (2, 3, 4, 5)).astype(np.float32)}

CASES = {
    "mean_keep": (13, "y = ReduceMean <axes = [1, -2]> (x)", "reduce_mean"),
    "sum_18_drop": (
        18,
        "a = Constant <value = int64[2] {1, 3}> ()\n y = ReduceSum <keepdims = 0> (x, a)",
        "reduce_sum",
    ),
    "sum_13_input": (13, "a = Constant <value = int64[1] {2}> ()\n y = ReduceSum (x, a)", "reduce_sum"),
    "max_all": (13, "y = ReduceMax <keepdims = 0> (x)", "reduce_max"),
    "min": (13, "y = ReduceMin <axes = [0]> (x)", "reduce_min"),
    "prod": (13, "y = ReduceProd <axes = [3]> (x)", "reduce_prod"),
    "l2": (13, "y = ReduceL2 <axes = [1, 2]> (x)", "reduce_l2_norm"),
    "l1": (13, "y = ReduceL1 <axes = [1]> (x)", "reduce_l1_norm"),
    "log_sum_exp": (13, "y = ReduceLogSumExp <axes = [3]> (x)", "reduce_log_sum_exp"),
    "sum_square": (13, "y = ReduceSumSquare <axes = [3]> (x)", "reduce_sum_square"),
    "log_sum": (13, "y = ReduceLogSum <axes = [1, 3]> (x)", "reduce_log_sum"),
    # noop_with_empty_axes: "composite-reduction operators will still perform the non-reduction steps"
    "l1_noop": (18, "y = ReduceL1 <noop_with_empty_axes = 1> (x)", "abs"),
    "l2_noop": (18, "y = ReduceL2 <noop_with_empty_axes = 1> (x)", "abs"),
    "sum_square_noop": (18, "y = ReduceSumSquare <noop_with_empty_axes = 1> (x)", "square"),
    "log_sum_noop": (18, "y = ReduceLogSum <noop_with_empty_axes = 1> (x)", "log"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reduce(case):
    opset, body, mil_op = CASES[case]
    feeds = POSITIVE if case in ("prod", "log_sum", "log_sum_noop") else None
    check(graph(body, opset=opset), (mil_op,), feeds=feeds)


@pytest.mark.parametrize(("op", "mil_op"), [("ArgMax", "reduce_argmax"), ("ArgMin", "reduce_argmin")])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_arg(op, mil_op, keepdims):
    # the index is turned back into a float so the comparison stays on the float interface
    g = graph(f"i = {op} <axis = 2, keepdims = {keepdims}> (x)\n y = Cast <to = 1> (i)")
    check(g, (mil_op,))
