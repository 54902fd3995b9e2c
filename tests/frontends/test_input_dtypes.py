"""Input dtypes on the frontend side: ``--input NAME:DIMS:DTYPE`` parsing, TorchScript traced with
integer example inputs, the dtypes a .pt2 records used without being asked, an .onnx file's input
dtypes kept, and a dtype that contradicts the file refused in one line."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from bridgec import TensorSpec, frontends
from bridgec.core.errors import UsageError
from bridgec.frontends.shapes import FlexibleShape, parse_flexible_specs, parse_input_specs


@pytest.mark.parametrize(
    "spec, name, want",
    [
        ("ids:1x16:int64", "ids", TensorSpec((1, 16), "int64")),
        ("ids:1x16:INT32", "ids", TensorSpec((1, 16), np.int32)),
        ("mask:1x16:bool", "mask", TensorSpec((1, 16), np.bool_)),
        ("x:1x3x8x8:fp16", "x", TensorSpec((1, 3, 8, 8), np.float16)),
        ("x:1x3x8x8:float32", "x", TensorSpec((1, 3, 8, 8), np.float32)),
        ("1x16:int64", None, TensorSpec((1, 16), "int64")),  # the one input, unnamed
        ("x:1x3x8x8", "x", (1, 3, 8, 8)),  # no dtype: the shape, as before
        ("ids:1x(1..128):int64", "ids", TensorSpec((1, 1), "int64")),  # flexible: the default shape
    ],
)
def test_good_specs(spec, name, want):
    assert parse_input_specs([spec]) == {name: want}


def test_a_flexible_spec_with_a_dtype_is_still_flexible():
    assert parse_flexible_specs(["ids:1x(1..128):int64"]) == {"ids": FlexibleShape(ranges=((1, 1), (1, 128)))}


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            "ids:1x16:int8",
            "unknown dtype 'int8'; choose fp32 (float32), fp16 (float16), int32, int64 or bool",
        ),
        ("ids:1x16:", "malformed --input 'ids:1x16:'"),
        ("ids:int64", "malformed --input 'ids:int64': expected NAME:DIMS[:DTYPE]"),
        ("ids:1x16:int64:x", "unknown dtype 'x'"),
    ],
)
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(UsageError, match="^[^\n]*$") as caught:
        parse_input_specs([spec])
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "value, want",
    [
        ((1, 3, 8, 8), TensorSpec((1, 3, 8, 8))),
        (((1, 16), "int64"), TensorSpec((1, 16), np.int64)),
        (TensorSpec([1, 16], "bool"), TensorSpec((1, 16), np.bool_)),
    ],
)
def test_the_python_forms(value, want):
    assert TensorSpec.of(value) == want


def test_the_python_api_refuses_an_unknown_dtype():
    with pytest.raises(UsageError, match="TensorSpec\\(dtype='int8'\\): unknown dtype"):
        TensorSpec((1, 16), "int8")


class Embed(nn.Module):
    """Token ids and a float scale: an embedding, a linear layer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 6)
        self.lin = nn.Linear(6, 3)

    def forward(self, ids, scale):
        return self.lin(self.emb(ids)) * scale


def _inputs():
    return torch.randint(0, 50, (1, 8)), torch.randn(1, 8, 3)


@pytest.fixture
def saved(tmp_path):
    module = Embed().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module, _inputs()), tmp_path / "embed.pt")
        torch.export.save(torch.export.export(module, _inputs()), tmp_path / "embed.pt2")
    return tmp_path


def _dtypes(graph) -> dict[str, np.dtype]:
    return {t.name: np.dtype(t.dtype) for t in graph.inputs}


def test_torchscript_traces_with_the_given_integer_dtype(saved):
    source = frontends.open_source(
        saved / "embed.pt", inputs={"ids": TensorSpec((1, 8), "int64"), "scale": (1, 8, 3)}
    )
    # the exported ONNX graph keeps torch's int64: the Core ML side decides what it becomes
    assert _dtypes(source.graph) == {"ids": np.int64, "scale": np.float32}
    assert source.example["ids"].dtype == np.int64 and source.example["scale"].dtype == np.float32
    assert {n.op for n in source.graph.nodes} >= {"Gather"}


def test_torchscript_without_the_dtype_says_how_to_give_it(saved):
    with pytest.raises(UsageError, match=r"needs its dtype: --input NAME:DIMS:int64\)$"):
        frontends.open_source(saved / "embed.pt", inputs={"ids": (1, 8), "scale": (1, 8, 3)})


def test_pt2_dtypes_are_used_without_being_asked(saved):
    source = frontends.open_source(saved / "embed.pt2")
    assert _dtypes(source.graph) == {"ids": np.int64, "scale": np.float32}
    assert source.example["ids"].dtype == np.int64


def test_pt2_dtype_given_as_recorded_is_accepted(saved):
    graph = frontends.load(saved / "embed.pt2", inputs={"ids": ((1, 8), "int64")})
    assert _dtypes(graph)["ids"] == np.int64


def test_pt2_dtype_that_contradicts_the_archive_names_both(saved):
    with pytest.raises(UsageError) as caught:
        frontends.load(saved / "embed.pt2", inputs={"ids": TensorSpec((1, 8), "int32")})
    message = str(caught.value)
    assert "\n" not in message
    assert "--input ids asks for int32, but the archive records ids as int64" in message


@pytest.fixture
def int_onnx(tmp_path):
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (int64[1,4] ids, float[1,4,2] x) => (float[1,4,2] y) { e = Gather (table, ids) y = Add (e, x) }
        """
    )
    table = np.arange(20, dtype=np.float32).reshape(10, 2)
    model.graph.initializer.append(onnx.numpy_helper.from_array(table, "table"))
    path = tmp_path / "ids.onnx"
    onnx.save(model, path)
    return path


def test_onnx_input_dtypes_are_kept(int_onnx):
    source = frontends.open_source(int_onnx)
    assert _dtypes(source.graph) == {"ids": np.int64, "x": np.float32}
    # the example feeds the table's rows, not float noise
    assert source.example["ids"].dtype == np.int64 and source.example["ids"].min() >= 0
    assert source.example["ids"].max() < 10
    assert _dtypes(frontends.load(int_onnx, inputs={"ids": ((1, 4), "int64")}))["ids"] == np.int64


def test_onnx_dtype_that_contradicts_the_file_is_one_line(int_onnx):
    with pytest.raises(UsageError) as caught:
        frontends.load(int_onnx, inputs={"x": TensorSpec((1, 4, 2), "int64")})
    message = str(caught.value)
    assert "\n" not in message and "declares input x as float32" in message and "int64" in message
