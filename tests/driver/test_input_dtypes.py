"""Input dtypes in the driver: the check's integer inputs (drawn within the tables they index,
``--check-input`` integer arrays for integer inputs, narrowed to Core ML's int32 explicitly), the
report's line for each input that is not float32, and an embedding model converting and matching in
both formats from TorchScript and from torch.export."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from bridgec import TensorSpec, frontends
from bridgec.core import ir
from bridgec.core.errors import UsageError
from bridgec.driver import check_inputs
from bridgec.driver.cli import main
from bridgec.driver.convert import convert


def _onnx(tmp_path, rows: int = 10):
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (int64[1,4] ids, float[1,4,2] x) => (float[1,4,2] y) { e = Gather (table, ids) y = Add (e, x) }
        """
    )
    table = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
    model.graph.initializer.append(onnx.numpy_helper.from_array(table, "table"))
    path = tmp_path / "ids.onnx"
    onnx.save(model, path)
    return path


def test_check_feeds_draw_indices_from_the_table_size(tmp_path):
    model = onnx.load(_onnx(tmp_path, rows=300))
    graph = ir.import_model(model)
    example = {"ids": np.zeros((1, 4), np.int64), "x": np.ones((1, 4, 2), np.float32)}
    source, coreml, user = check_inputs.check_feeds(graph, None, example)
    assert source["ids"].dtype == np.int64 and source["ids"].max() < 300 and source["ids"].max() > 1
    assert source["x"] is example["x"] and not user  # floats: the frontend's example, as before


def test_check_input_integer_arrays_feed_integer_inputs(tmp_path):
    graph = ir.import_model(onnx.load(_onnx(tmp_path)))
    ids = np.array([[9, 0, 3, 3]], np.int32)
    source, _, user = check_inputs.check_feeds(graph, {"ids": ids}, {"x": np.ones((1, 4, 2), np.float32)})
    assert user and source["ids"].dtype == np.int64 and source["ids"].tolist() == [[9, 0, 3, 3]]


@pytest.mark.parametrize(
    "value, message",
    [
        (
            np.zeros((1, 4), np.float32),
            "--check-input ids: holds float32 values, but the input is int64; save integer values",
        ),
        (np.zeros((1, 4), np.bool_), "holds bool values, but the input is int64"),
        (np.full((1, 4), 2**63, np.uint64), "values beyond int64"),
    ],
)
def test_check_input_of_the_wrong_kind_is_one_line(tmp_path, value, message):
    graph = ir.import_model(onnx.load(_onnx(tmp_path)))
    with pytest.raises(UsageError) as caught:
        check_inputs.check_feeds(graph, {"ids": value}, {"x": np.ones((1, 4, 2), np.float32)})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_coreml_feeds_narrow_to_what_the_model_declares(tmp_path):
    result = convert(_onnx(tmp_path), format="mlprogram", write=False)
    feeds = {"ids": np.array([[1, 2, 3, 4]], np.int64), "x": np.zeros((1, 4, 2), np.float32)}
    narrowed = check_inputs.coreml_feeds(result.spec, feeds)
    assert narrowed["ids"].dtype == np.int32 and narrowed["ids"].tolist() == [[1, 2, 3, 4]]
    with pytest.raises(UsageError, match="values beyond int32"):
        check_inputs.coreml_feeds(result.spec, {**feeds, "ids": np.full((1, 4), 2**40, np.int64)})


@pytest.mark.parametrize("format", ["mlprogram", "neuralnetwork"])
def test_onnx_with_an_int64_input_converts_and_reports_it(tmp_path, format):
    result = convert(_onnx(tmp_path), format=format, write=False)
    assert result.check.status == "checked", result.check.line()
    (line,) = result.report.inputs
    assert (line.name, line.model_dtype, line.coreml_dtype) == ("ids", "int64", "int32")
    assert line.line.startswith("ids: int64 in the model, int32 in Core ML (")
    assert line.line.endswith("indexes an embedding of 10 rows)")
    data = json.loads(result.report.to_json())
    assert data["inputs"][0]["line"] == line.line
    from bridgec.driver.report_schema import validate

    assert validate(data) == []
    assert "input ids: int64 in the model, int32 in Core ML" in result.report.render()


def test_a_float32_model_has_no_input_lines(tmp_path):
    model = onnx.parser.parse_model(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
    )
    onnx.save(model, tmp_path / "relu.onnx")
    assert convert(tmp_path / "relu.onnx", write=False).report.inputs == []


class Tokens(nn.Module):
    """The shape of a text model's front: token ids into an embedding, a mask, a linear layer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 8)
        self.lin = nn.Linear(8, 4)

    def forward(self, ids, mask):
        return self.lin(self.emb(ids)) * mask.unsqueeze(-1)


@pytest.fixture
def tokens(tmp_path):
    module = Tokens().eval()
    args = (torch.randint(0, 1000, (1, 8)), torch.ones(1, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module, args), tmp_path / "tokens.pt")
        torch.export.save(torch.export.export(module, args), tmp_path / "tokens.pt2")
    return tmp_path


@pytest.mark.parametrize("format", ["mlprogram", "neuralnetwork"])
@pytest.mark.parametrize("file", ["tokens.pt", "tokens.pt2"])
def test_an_embedding_model_converts_and_matches(tokens, file, format):
    inputs = {"ids": TensorSpec((1, 8), "int64"), "mask": (1, 8)} if file.endswith(".pt") else None
    # convert's own check raises on a mismatch; it ran PyTorch on int64 ids and Core ML on int32 ones
    result = convert(tokens / file, inputs=inputs, format=format, write=False)
    assert result.check.status == "checked", result.check.line()
    (line,) = result.report.inputs
    assert line.line.startswith("ids: int64 in the model, int32 in Core ML (")
    assert "indexes an embedding of 1000 rows" in line.line


def test_check_input_reaches_pytorch_as_int64_and_core_ml_as_int32(tokens, monkeypatch):
    seen = {}
    original = check_inputs.coreml_feeds

    def spy(spec, feeds):
        seen["source"] = feeds["ids"].dtype
        narrowed = original(spec, feeds)
        seen["coreml"] = narrowed["ids"].dtype
        return narrowed

    monkeypatch.setattr("bridgec.driver.check.coreml_feeds", spy)
    ids = np.array([[999, 0, 1, 2, 500, 7, 7, 998]], np.int64)
    result = convert(
        tokens / "tokens.pt2", check_inputs={"ids": ids, "mask": np.ones((1, 8), np.float32)}, write=False
    )
    assert result.check.status == "checked" and result.check.user_inputs
    assert seen == {"source": np.int64, "coreml": np.int32}


def test_bad_dtype_on_the_command_line_exits_2_with_one_line(tokens, capsys):
    code = main([str(tokens / "tokens.pt"), "--input", "ids:1x8:long", "--input", "mask:1x8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "unknown dtype 'long'; choose fp32 (float32), fp16 (float16), int32, int64 or bool" in err[0]


def test_the_command_line_dtype_reaches_the_tracer(tokens, capsys):
    out = tokens / "tokens.mlpackage"
    code = main(
        [str(tokens / "tokens.pt"), "--input", "ids:1x8:int64", "--input", "mask:1x8", "-o", str(out)]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "input ids: int64 in the model, int32 in Core ML" in printed.out
    assert printed.out.strip().splitlines()[-1].startswith("checked:")


def test_open_source_keeps_user_dtypes_apart_from_shapes(tokens):
    source = frontends.open_source(tokens / "tokens.pt", inputs={"ids": ((1, 8), "int64"), "mask": (1, 8)})
    assert {t.name: np.dtype(t.dtype) for t in source.graph.inputs} == {"ids": np.int64, "mask": np.float32}


def test_a_flexible_integer_input_is_checked_at_every_shape(tmp_path, capsys):
    module = nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 3)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module, torch.randint(0, 100, (1, 8))), tmp_path / "one.pt")
    out = tmp_path / "one.mlmodel"
    code = main([str(tmp_path / "one.pt"), "--input", "1x(4..16):int64", "-o", str(out)])  # the one input
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.out.strip().splitlines()[-1].endswith("at 3 shapes (input:1x4; input:1x11; input:1x16)")


@pytest.mark.parametrize("format", ["mlprogram", "neuralnetwork"])
def test_a_bool_mask_is_fed_true_and_false(tmp_path, format):
    model = onnx.parser.parse_model(
        '<ir_version: 8, opset_import: ["" : 17]> g (bool[1,64] keep, float[1,64] x) => (float[1,64] y) '
        "{ z = Constant <value = float {0}> () y = Where (keep, x, z) }"
    )
    onnx.save(model, tmp_path / "mask.onnx")
    source = frontends.open_source(tmp_path / "mask.onnx")
    feeds = check_inputs.check_feeds(source.graph, None, source.example)[0]
    assert feeds["keep"].dtype == np.bool_ and 0 < feeds["keep"].sum() < 64  # both values
    result = convert(tmp_path / "mask.onnx", format=format, write=False)
    assert result.check.status == "checked", result.check.line()
    assert result.report.inputs[0].line.startswith("keep: bool in the model, int32 in Core ML (")


def test_the_report_says_when_core_ml_cannot_take_an_input(tmp_path):
    from bridgec.driver.analysis import analyze

    model = onnx.parser.parse_model(
        '<ir_version: 8, opset_import: ["" : 17]> g (float16[1,4] x) => (float16[1,4] y) { y = Relu (x) }'
    )
    onnx.save(model, tmp_path / "half.onnx")
    (refused,) = analyze(tmp_path / "half.onnx", format="neuralnetwork").inputs
    assert refused.coreml_dtype == "none"
    assert refused.line.startswith("x: float16 in the model, not a Core ML input (input 'x' is float16")
    (kept,) = analyze(tmp_path / "half.onnx", format="mlprogram", target="iOS16").inputs
    assert kept.line == "x: float16 in the model, also in Core ML"
