"""MaxPool, AveragePool and the global pools as MIL ops, against onnxruntime."""

from __future__ import annotations

import pytest

from bridgec.backends.coreml import mlprogram_ops as mil
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, graph

POOLS = {
    "max_2x2": ("MaxPool", "kernel_shape = [2, 2], strides = [2, 2]", "[1,3,8,9]"),
    "max_pads": ("MaxPool", "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 1, 2]", "[1,3,9,9]"),
    "max_same": ("MaxPool", 'kernel_shape = [3, 3], strides = [2, 2], auto_pad = "SAME_UPPER"', "[1,3,8,9]"),
    "max_ceil": ("MaxPool", "kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1", "[1,3,8,8]"),
    "max_1d": ("MaxPool", "kernel_shape = [3], strides = [1], pads = [1, 1]", "[2,3,10]"),
    "avg_exclude_pad": ("AveragePool", "kernel_shape = [3, 3], pads = [1, 1, 1, 1]", "[1,3,7,7]"),
    "avg_include_pad": (
        "AveragePool",
        "kernel_shape = [3, 3], pads = [1, 1, 1, 1], count_include_pad = 1",
        "[1,3,7,7]",
    ),
    "avg_stride": ("AveragePool", "kernel_shape = [2, 3], strides = [2, 1]", "[2,3,8,7]"),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool(case):
    op, attrs, shape = POOLS[case]
    mil_op = "max_pool" if op == "MaxPool" else "avg_pool"
    check(graph(f"y = {op} <{attrs}> (x)", inputs=f"float{shape} x"), (mil_op,))


@pytest.mark.parametrize(
    ("op", "mil_op"), [("GlobalAveragePool", "reduce_mean"), ("GlobalMaxPool", "reduce_max")]
)
def test_global_pool(op, mil_op):
    check(graph(f"y = {op} (x)"), (mil_op,))


def test_dilated_pool_refused():
    node = graph("y = MaxPool <kernel_shape = [2, 2], dilations = [2, 2]> (x)").nodes[0]
    assert "dilation" in mil.lookup(node).check(node, None)


@pytest.mark.parametrize(
    ("op", "attrs", "shape"),
    [
        # ONNX drops a last window that would start in the right padding; MIL's ceil_mode keeps it
        ("MaxPool", "kernel_shape = [1, 1], strides = [2, 2], ceil_mode = 1", "[1,1,2,2]"),
        (
            "MaxPool",
            "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1",
            "[1,2,6,6]",
        ),
        (
            "MaxPool",
            "kernel_shape = [2, 3], strides = [3, 2], pads = [0, 1, 1, 0], ceil_mode = 1",
            "[1,2,7,8]",
        ),
        ("AveragePool", "kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1", "[1,2,6,7]"),
        ("AveragePool", "kernel_shape = [1, 1], strides = [2, 2], ceil_mode = 1", "[1,1,4,4]"),
        (
            "AveragePool",
            "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1, count_include_pad = 1",
            "[1,2,7,7]",
        ),
    ],
)
def test_pool_ceil_mode(op, attrs, shape):
    mil_op = "max_pool" if op == "MaxPool" else "avg_pool"
    check(graph(f"y = {op} <{attrs}> (x)", inputs=f"float{shape} x"), (mil_op,))


def test_ceil_mode_counting_pads_past_the_pads_refused():
    # the rounded-up window runs past the pads: ONNX counts the pads but not the cells past them,
    # MIL counts all padding or none
    g = graph(
        "y = AveragePool <kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1, "
        "count_include_pad = 1> (x)",
        inputs="float[1,2,8,8] x",
    )
    node = g.nodes[0]
    assert "past the pads" in mil.lookup(node).check(node, None)


@pytest.mark.parametrize(
    ("attrs", "shape"),
    [
        # no pads declared: counting them or not is the same, so the cells past the input never count
        ("kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1, count_include_pad = 1", "[1,2,6,6]"),
        # the rounded-up window ends inside the declared pads: all of it counts
        (
            "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1, count_include_pad = 1",
            "[1,2,7,7]",
        ),
        # asymmetric pads with ceil_mode, and auto_pad with ceil_mode (which SAME ignores)
        ("kernel_shape = [3, 2], strides = [2, 2], pads = [2, 0, 0, 1], ceil_mode = 1", "[1,2,8,7]"),
        ('kernel_shape = [3, 3], strides = [2, 2], auto_pad = "SAME_LOWER", ceil_mode = 1', "[1,2,8,7]"),
        ('kernel_shape = [2, 3], strides = [3, 2], auto_pad = "VALID", ceil_mode = 1', "[1,2,8,7]"),
    ],
)
def test_average_pool_ceil_mode_windows(attrs, shape):
    check(graph(f"y = AveragePool <{attrs}> (x)", inputs=f"float{shape} x"), ("avg_pool",))


@pytest.mark.parametrize(
    ("attrs", "refused"),
    [
        ("kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 1, 2]", False),
        ('kernel_shape = [3, 3], strides = [2, 2], auto_pad = "SAME_UPPER"', True),
        ("kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1", True),
    ],
)
def test_pool_without_a_static_shape(attrs, refused):
    node = graph(f"y = AveragePool <{attrs}> (x)", inputs="float[1,2,H,W] x").nodes[0]
    reason = mil.lookup(node).check(node, None)
    assert ("static spatial shape" in reason) if refused else reason is None
