"""Which values the check feeds an integer input: within every constant table it indexes (through
ops that move values and shifts by a constant), 0 and 1 when it indexes none, True/False for bools."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import pytest

from bridgec.core import ir
from bridgec.core.input_values import MASK_RANGE, ValueRange, random_inputs, random_value, value_ranges


def graph_of(text: str, tables: dict[str, tuple[int, ...]]) -> gs.Graph:
    model = onnx.parser.parse_model(text)
    for name, shape in tables.items():
        table = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        model.graph.initializer.append(onnx.numpy_helper.from_array(table, name))
    return ir.import_model(model)


BERT_LIKE = """
<ir_version: 8, opset_import: ["" : 17]>
g (int64[1,8] ids, int64[1,8] types, int64[1,8] mask, bool[1,8] keep, int64[1,8] pos) => (float[1,8,4] y)
{
    ids32 = Cast <to = 6> (ids)
    emb = Gather (words, ids32)
    one = Constant <value = int64 {1}> ()
    shifted = Add (pos, one)
    pos3 = Unsqueeze (shifted, axes)
    pemb = Gather (positions, pos3)
    pemb2 = Squeeze (pemb, axes)
    temb = Gather (kinds, types)
    sum1 = Add (emb, temb)
    sum2 = Add (sum1, pemb2)
    fmask = Cast <to = 1> (mask)
    m3 = Unsqueeze (fmask, last)
    masked = Mul (sum2, m3)
    fkeep = Cast <to = 1> (keep)
    k3 = Unsqueeze (fkeep, last)
    y = Mul (masked, k3)
}
"""


@pytest.fixture
def bert_like() -> gs.Graph:
    graph = graph_of(BERT_LIKE, {"words": (1000, 4), "positions": (64, 4), "kinds": (2, 4)})
    constants = {"axes": np.array([0], np.int64), "last": np.array([-1], np.int64)}
    for tensor in graph.tensors().values():
        if tensor.name in constants:
            tensor.to_constant(constants[tensor.name])
    return graph


def test_value_ranges_follow_indices_to_their_tables(bert_like):
    ranges = value_ranges(bert_like)
    assert ranges["ids"] == ValueRange(0, 1000, 1000)  # through a Cast
    assert ranges["pos"] == ValueRange(0, 63, 64)  # pos + 1 indexes 64 rows: pos < 63
    assert ranges["types"] == ValueRange(0, 2, 2)
    assert ranges["mask"] == MASK_RANGE and ranges["mask"].rows is None  # indexes nothing
    assert ranges["keep"] == MASK_RANGE
    assert ranges["ids"].describe() == "indexes an embedding of 1000 rows"


def test_a_computed_table_constrains_nothing():
    graph = graph_of(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[10,4] table, int64[3] idx) => (float[3,4] y) { y = Gather (table, idx) }
        """,
        {},
    )
    assert value_ranges(graph) == {"idx": MASK_RANGE}


def test_random_inputs_are_of_each_input_dtype_and_range(bert_like):
    feeds = random_inputs(bert_like, np.random.default_rng(0))
    assert feeds["ids"].dtype == np.int64 and feeds["keep"].dtype == np.bool_
    assert feeds["ids"].min() >= 0 and feeds["ids"].max() < 1000 and feeds["ids"].max() > 1
    assert feeds["pos"].max() < 63 and set(np.unique(feeds["mask"])) <= {0, 1}


def test_floats_keep_the_numbers_they_had_before_dtypes():
    # float32 inputs draw exactly what they drew before inputs had dtypes (the zoo's numbers stay)
    got = random_value(np.random.default_rng(0), (2, 3), np.float32)
    want = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    half = random_value(np.random.default_rng(0), (2, 3), np.float16)
    np.testing.assert_array_equal(half, want.astype(np.float16))
