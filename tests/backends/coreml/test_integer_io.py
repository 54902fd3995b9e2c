"""Integer and bool tensors at a Core ML model's interface (backends/coreml/inputs.py): int64 and bool
inputs and outputs become int32 features, never silently (interface_dtypes says why each change is
safe) and are refused in one line when not; float16 is an ML Program iOS16+ feature. Then the gathers
the text models need with indices computed at run time, negative ones included, emitted in both
formats and run through the reference executor against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs
import pytest

from bridgec.backends.coreml.executor import run as run_neuralnetwork
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.inputs import EXACT_INT_LIMIT, interface_dtypes
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.backends.coreml.targets import Target
from bridgec.core.errors import ConversionError
from tests.helpers import graph_from_text, run_graph

NN, MLP = "neuralnetwork", "mlprogram"
INT32 = 131104  # FeatureTypes.proto ArrayDataType


def model(inputs: str, body: str, outputs: str) -> str:
    return f'<ir_version: 8, opset_import: ["" : 17]> g ({inputs}) => ({outputs}) {{\n {body}\n}}'


EMBED = model(
    "int64[1,6] ids, bool[1,6] mask",
    "table = Constant <value = float[7,2] {0,1,2,3,4,5,6,7,8,9,10,11,12,13}> ()\n"
    " e = Gather (table, ids)\n m = Cast <to = 1> (mask)\n u = Unsqueeze (m, axes)\n y = Mul (e, u)\n"
    " best = ArgMax <axis = 1, keepdims = 0> (y)\n axes = Constant <value = int64[1] {2}> ()\n keep = Not (mask)",
    "float[1,6,2] y, int64[1,2] best, bool[1,6] keep",
)
FEEDS = {"ids": np.array([[3, 0, -1, 6, 2, -7]], np.int64), "mask": np.array([[1, 1, 0, 1, 0, 1]], bool)}


def _build_and_run(graph, fmt: str, feeds: dict, target: str = "iOS15"):
    feeds = {k: v.astype(np.int32) if v.dtype in (np.int64, np.bool_) else v for k, v in feeds.items()}
    if fmt == NN:
        spec = build_spec(graph, target)
        return spec, run_neuralnetwork(spec, feeds)
    built = build_mlprogram(graph, Target.parse(target, format=MLP))
    return built.get_spec(), run_mlprogram(built, feeds)


def test_interface_dtypes_say_what_each_feature_becomes_and_why():
    changes = {c.name: c for c in interface_dtypes(graph_from_text(EMBED), MLP, 15)}
    assert sorted(changes) == ["best", "ids", "keep", "mask"]  # y is float32: no change
    assert all(c.coreml_dtype == np.int32 for c in changes.values())
    assert (
        changes["ids"]
        .describe()
        .startswith("input 'ids': int64 -> Core ML int32 (Core ML's integer input is int32")
    )
    assert "no bool input: feed 0 for false and 1 for true" in changes["mask"].why
    assert "true is 1 and false is 0" in changes["keep"].why
    assert str(2**24) in interface_dtypes(graph_from_text(EMBED), NN, 15)[0].why


@pytest.mark.parametrize("fmt", [NN, MLP])
def test_int64_and_bool_features_are_int32_and_the_numbers_match(fmt):
    graph = graph_from_text(EMBED)
    want = run_graph(graph, FEEDS)
    spec, got = _build_and_run(graph, fmt, FEEDS)
    dtypes = {
        f.name: f.type.multiArrayType.dataType for f in (*spec.description.input, *spec.description.output)
    }
    assert dtypes["ids"] == dtypes["mask"] == dtypes["best"] == dtypes["keep"] == INT32
    assert dtypes["y"] != INT32
    np.testing.assert_allclose(got["y"], want[0], rtol=1e-6)
    assert got["best"].dtype == got["keep"].dtype == np.int32
    np.testing.assert_array_equal(got["best"], want[1])
    np.testing.assert_array_equal(got["keep"], want[2].astype(np.int32))


def _indexing_graph(rows: int, fmt_dtype: str = "int64") -> gs.Graph:
    # the table's size is metadata only: nothing of that size is allocated
    ids = gs.Variable("ids", np.dtype(fmt_dtype), (1, 4))
    table = gs.Variable("table", np.float32, (rows, 8))
    out = gs.Variable("y", np.float32, (1, 4, 8))
    node = gs.Node("Gather", "embed", inputs=[table, ids], outputs=[out])
    return gs.Graph(nodes=[node], inputs=[table, ids], outputs=[out])


@pytest.mark.parametrize("fmt", [NN, MLP])
def test_an_index_beyond_what_the_format_reaches_exactly_is_refused(fmt):
    limit = EXACT_INT_LIMIT[fmt]
    assert interface_dtypes(_indexing_graph(limit), fmt, 15)  # indices -limit .. limit - 1 are exact
    with pytest.raises(ConversionError) as raised:
        interface_dtypes(_indexing_graph(limit + 1), fmt, 15)
    message = str(raised.value)
    assert "\n" not in message
    assert f"input 'ids' indexes {limit + 1} rows of 'table' (node 'embed', Gather)" in message


def test_float16_is_an_ml_program_ios16_feature():
    text = model("float16[2,3] x", "y = Relu (x)", "float16[2,3] y")
    assert interface_dtypes(graph_from_text(text), MLP, 16) == []
    for fmt, ios, where in ((NN, 16, "a NeuralNetwork"), (MLP, 15, "an ML Program for iOS15")):
        with pytest.raises(
            ConversionError, match=f"input 'x' is float16, which {where} cannot take; export it"
        ):
            interface_dtypes(graph_from_text(text), fmt, ios)


def test_a_type_no_core_ml_feature_holds_is_refused_in_one_line():
    text = model("uint8[2,3] x", "y = Cast <to = 1> (x)", "float[2,3] y")
    with pytest.raises(
        ConversionError, match=r"^input 'x' is uint8, which Core ML cannot take .* as int32 or float32$"
    ):
        interface_dtypes(graph_from_text(text), MLP, 17)


# Gathers at run-time indices, negative ones included (ONNX counts them from the end).
GATHERS = {
    "gather": (
        "float[3,4,5] x, int64[2,3] i",
        "y = Gather <axis = 1> (x, i)",
        "float[3,2,3,5] y",
        (-4, 4, (2, 3)),
    ),
    "gathernd": ("float[3,4,5] x, int64[2,2] i", "y = GatherND (x, i)", "float[2,5] y", None),
    "gather_elements": (
        "float[3,4,5] x, int64[3,2,5] i",
        "y = GatherElements <axis = 1> (x, i)",
        "float[3,2,5] y",
        (-4, 4, (3, 2, 5)),
    ),
    "gather_int32_data": (
        "int32[3,4] x, int64[5] i",
        "y = Gather <axis = 1> (x, i)",
        "int32[3,5] y",
        (-4, 4, (5,)),
    ),
}


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("case", GATHERS)
def test_gathers_at_run_time_indices_match_onnxruntime(case, fmt):
    inputs, body, out, index_range = GATHERS[case]
    graph = graph_from_text(model(inputs, body, out))
    rng = np.random.default_rng(9)
    x_shape = tuple(graph.inputs[0].shape)
    x = (rng.standard_normal(x_shape) * 10).astype(np.dtype(graph.inputs[0].dtype))
    if index_range is None:
        i = np.array([[0, -1], [-3, 2]], np.int64)
    else:
        lo, hi, shape = index_range
        i = rng.integers(lo, hi, shape).astype(np.int64)
    want = run_graph(graph, {"x": x, "i": i})[0]
    _, got = _build_and_run(graph, fmt, {"x": x, "i": i})
    np.testing.assert_array_equal(got["y"].astype(want.dtype), want)


def test_gathernd_batch_dims_is_an_ml_program_ios17_op():
    text = model("float[2,3,4] x, int64[2,1] i", "y = GatherND <batch_dims = 1> (x, i)", "float[2,4] y")
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    i = np.array([[-1], [1]], np.int64)
    want = run_graph(graph_from_text(text), {"x": x, "i": i})[0]
    _, got = _build_and_run(graph_from_text(text), MLP, {"x": x, "i": i}, target="iOS17")
    np.testing.assert_array_equal(got["y"], want)
