"""``bridgec.convert``: every kind of model object (and a file) converts in memory, its numbers are
checked against the model itself, nothing is written until ``.save``, and errors are the one-line
bridgec exceptions worded with the keywords a Python caller used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import bridgec
from bridgec.driver.keywords import for_python
from tests.conftest import ROOT


class Small(nn.Module):
    """A few convolutions, a batch norm (eval-mode numbers differ from train-mode ones) and hardtanh,
    the op with a bundled custom-layer kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.Hardtanh(-2, 2)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.bn(self.conv(x))))


SHAPE = (1, 3, 16, 16)


@pytest.fixture(scope="module")
def small() -> Small:
    torch.manual_seed(0)
    model = Small()
    with torch.no_grad():  # running statistics that make eval-mode batch norm differ from train mode
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    return model


def _proved(result: bridgec.ConvertedModel, reference: str = "PyTorch") -> None:
    check = result.check
    assert check.status == "checked", check.line()
    assert check.reference == reference
    assert [o.name for o in check.outputs] == ["output"]
    assert 0 <= check.max_rel < 1e-5 and check.outputs[0].passed
    assert check.line().startswith("checked: 1 output, max rel err")


def test_a_module_with_shapes_converts_in_memory_and_saves_only_when_asked(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small.train()
    calls = []
    hook = small.register_forward_hook(lambda m, args, out: calls.append(type(args[0]) is torch.Tensor))
    try:
        result = bridgec.convert(small, inputs={"x": SHAPE})
    finally:
        hook.remove()
    assert small.training and small.bn.training  # converted in eval mode, the caller's flags restored
    assert any(calls)  # the check ran the caller's module itself on real tensors, not only the export
    _proved(result)
    assert (result.format, result.target, result.suffix) == ("mlprogram", "iOS15", ".mlpackage")
    assert result.report.counts()["lowered"] == 1 and result.report.to_dict()["check"]["status"] == "checked"
    assert {
        op.type for op in result.spec.mlProgram.functions["main"].block_specializations["CoreML5"].operations
    } >= {
        "conv",
        "clip",
    }
    shown = repr(result)
    assert "ML Program for iOS15" in shown and "checked: 1 output" in shown and "ops: conv 2" in shown
    assert os.listdir(tmp_path) == []  # nothing written before save
    written = result.save("small")  # the suffix comes from the format
    assert written == [Path("small.mlpackage")]
    assert (tmp_path / "small.mlpackage" / "Manifest.json").is_file()
    assert sorted(os.listdir(tmp_path)) == ["small.mlpackage"]


def test_a_module_with_example_inputs_is_checked_on_them(small):
    example = torch.randn(1, 3, 12, 20, generator=torch.Generator().manual_seed(3))
    result = bridgec.convert(small, example_inputs=(example,), format="mlprogram")
    _proved(result)
    assert result.check.shapes == ["x:1x3x12x20"]


class Branchy(nn.Module):
    """Data-dependent control flow: torch.export refuses it, a trace records the branch taken."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x - 1


def test_a_module_torch_export_refuses_says_why_and_converts_traced():
    with pytest.raises(bridgec.ConversionError) as raised:
        bridgec.convert(Branchy(), inputs=[(1, 8)])
    message = str(raised.value)
    assert message.startswith("Branchy: torch.export.export failed: ") and "\n" not in message
    assert 'exporter="torchscript"' in message and "example_inputs=" in message
    result = bridgec.convert(Branchy(), inputs=[(1, 8)], exporter="torchscript")
    assert result.check.status == "checked" and result.check.max_rel == 0


def test_a_module_that_writes_its_buffers_is_left_as_it_was():
    from examples.stateful import RunningMean

    model = RunningMean()
    result = bridgec.convert(model, [(2, 4)], target="iOS18")  # MLState: an ML Program for iOS18
    assert result.check.status == "checked" and "3 calls in sequence" in result.check.line()
    assert result.check.max_rel < 5e-2  # the state is float16 in Core ML
    assert model.total.abs().sum() == 0 and model.count.item() == 0  # restored: the check wrote them


def test_flexible_shapes_from_the_command_line_text(small):
    result = bridgec.convert(small, inputs={"x": "1x3x(16..24)x16"})
    assert result.check.status == "checked" and result.check.max_rel < 1e-5
    assert len(result.check.shapes) == 3  # checked at both ends of the range and between


def test_a_script_module_an_exported_program_and_a_list_of_shapes(small):
    small.eval()
    example = torch.randn(*SHAPE)
    scripted = torch.jit.trace(small, example)
    _proved(bridgec.convert(scripted, [SHAPE], format="neuralnetwork", target="iOS14"))
    program = torch.export.export(small, (example,))
    result = bridgec.convert(program)  # a program records its shapes
    _proved(result)
    assert result.check.shapes == ["x:1x3x16x16"]


def test_an_onnx_model_proto_and_its_file(small, tmp_path, monkeypatch):
    import onnx

    monkeypatch.chdir(tmp_path)
    small.eval()
    torch.onnx.export(
        small, (torch.randn(*SHAPE),), "small.onnx", input_names=["x"], output_names=["output"], dynamo=False
    )
    proto = onnx.load("small.onnx")
    before = proto.SerializeToString()
    _proved(bridgec.convert(proto), reference="onnxruntime")
    assert proto.SerializeToString() == before  # the caller's model is left as it was
    result = bridgec.convert("small.onnx", example_inputs=np.ones(SHAPE, np.float32))
    _proved(result, reference="onnxruntime")
    assert "on --check-input" in result.check.line()  # checked on the example given, not random data
    assert sorted(os.listdir(tmp_path)) == ["small.onnx"]


def test_custom_layers_save_their_kernels_folder(small, tmp_path):
    result = bridgec.convert(small, inputs={"x": SHAPE}, format="neuralnetwork", pipeline="custom")
    assert result.format == "neuralnetwork" and list(result.conversion.custom_classes) == ["HardTanh"]
    assert result.check.status == "checked" and result.check.max_rel < 1e-5
    assert os.listdir(tmp_path) == []
    model, kernels = result.save(tmp_path / "small.mlmodel")
    assert model == tmp_path / "small.mlmodel" and model.is_file()
    from bridgec.driver.files import kernels_dir_for

    assert kernels == kernels_dir_for(model) and kernels.parent == tmp_path
    assert [p.name for p in kernels.rglob("HardTanhLayer.swift")] == ["HardTanhLayer.swift"]


def test_core_ai_from_a_module(small, tmp_path):
    pytest.importorskip("coreai")
    result = bridgec.convert(small, inputs={"x": SHAPE}, format="coreai")
    assert (result.format, result.target, result.spec) == ("coreai", "iOS27", None)
    assert result.check.status == "checked" and result.check.max_rel < 1e-5
    assert "Core AI" in repr(result)
    assert os.listdir(tmp_path) == []
    (saved,) = result.save(tmp_path / "small")
    assert saved == tmp_path / "small.aimodel" and saved.is_dir() and any(saved.iterdir())


@pytest.mark.parametrize(
    ("call", "error", "wording"),
    [
        (
            lambda m: bridgec.convert(m),
            bridgec.UsageError,
            "give inputs={'x': (1, 3, 224, 224)} or example_inputs=",
        ),
        (
            lambda m: bridgec.convert(m, inputs={"x": SHAPE}, format="coreai", target="iOS18"),
            bridgec.UsageError,
            "format='coreai' needs target='iOS27' or macOS27",
        ),
        (
            lambda m: bridgec.convert(m, inputs={"y": SHAPE}),
            bridgec.UsageError,
            "inputs= keys y are not inputs of the model (its inputs: x)",
        ),
        (
            lambda m: bridgec.convert(m, inputs=[SHAPE], format="mlpackage"),
            bridgec.UsageError,
            "unknown format='mlpackage'",
        ),
        (
            lambda m: bridgec.convert(m, inputs=[SHAPE], precision="fp8"),
            bridgec.UsageError,
            "unknown precision='fp8'",
        ),
        (
            lambda m: bridgec.convert(m, inputs=[SHAPE], check=False, strict=True),
            bridgec.UsageError,
            "strict=True asks for a checked model and check=False for none",
        ),
        (
            lambda m: bridgec.convert(m, inputs=[SHAPE], precision="fp16", tolerance=1e-9),
            bridgec.CheckFailed,
            "check failed: output 'output' differs from PyTorch",
        ),
        (lambda m: bridgec.convert(object()), bridgec.UsageError, "convert(object): give an nn.Module"),
    ],
)
def test_errors_are_bridgec_exceptions_worded_with_keywords(small, call, error, wording):
    with pytest.raises(error) as raised:
        call(small)
    message = str(raised.value)
    assert isinstance(raised.value, bridgec.BridgecError) and "\n" not in message
    assert wording in message, message
    # flags stay only where the message names a command to run (``bridgec verify --per-node``)
    assert "--" not in message.partition("bridgec verify")[0], message


def test_save_refuses_the_wrong_suffix_and_the_source_file(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = bridgec.convert(small, inputs={"x": SHAPE})
    with pytest.raises(
        bridgec.UsageError, match=r"a \.mlpackage; name small\.mlmodel\.mlpackage .*format='neuralnetwork'"
    ):
        result.save("small.mlmodel")
    # an ONNX file named like the output: save may not write over the model it converted
    small.eval()
    torch.onnx.export(
        small, (torch.randn(*SHAPE),), "model.onnx", input_names=["x"], output_names=["output"], dynamo=False
    )
    shutil.move("model.onnx", "model.mlpackage")
    before = Path("model.mlpackage").read_bytes()
    from_file = bridgec.convert("model.mlpackage")
    with pytest.raises(bridgec.UsageError, match=r"save\('model\.mlpackage'\)") as raised:
        from_file.save("model.mlpackage")
    assert "input model" in str(raised.value)
    assert Path("model.mlpackage").read_bytes() == before


def test_cli_messages_reworded_for_python():
    assert for_python("pass --input x:1x3x224x224 --input ids:1x16:int64") == (
        "pass inputs={'x': (1, 3, 224, 224), 'ids': ((1, 16), 'int64')}"
    )
    assert for_python("-O custom --format mlprogram is an error; use --avoid-op Clip") == (
        "pipeline='custom' format='mlprogram' is an error; use avoid_ops=('Clip',)"
    )
    assert for_python("--tolerance 0.0: give a positive number; --input x: rank 4") == (
        "tolerance=0.0: give a positive number; inputs['x']: rank 4"
    )
    assert (
        for_python("a co-opted --debug flag and --no-check-each")
        == "a co-opted --debug flag and --no-check-each"
    )


def test_import_bridgec_stays_cheap():
    probe = (
        "import sys, bridgec; bridgec.convert; bridgec.ConvertedModel; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'onnx', 'coremltools', 'onnxruntime'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
