"""Named outputs from a ``.pt2`` (issue 17, item 3): a dict, a named tuple or a Hugging Face
``ModelOutput`` becomes Core ML outputs named after its keys or fields, read from the archive's
output spec without importing the class it names (a class this process has not registered is
loaded as a dict of its fields); names are sanitised into Core ML feature names and deduplicated;
an output class whose fields cannot be read is one line."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils import _pytree as pytree

from bridgec.core.errors import UsageError
from bridgec.driver.convert import convert
from bridgec.frontends.pytorch_export import flatten_outputs

FORMATS = ["neuralnetwork", "mlprogram"]
Pair = collections.namedtuple("Pair", ["score", "feat"])
PAIR_NAME = "bridgec_tests.pt2_outputs.Pair"


class Box:
    """An output class whose pytree context is not a list of field names."""

    def __init__(self, inner: torch.Tensor) -> None:
        self.inner = inner


BOX_NAME = "bridgec_tests.pt2_outputs.Box"


def _register_once() -> None:
    if Pair not in pytree.SUPPORTED_SERIALIZED_TYPES:
        pytree._register_namedtuple(Pair, serialized_type_name=PAIR_NAME)
    if Box not in pytree.SUPPORTED_SERIALIZED_TYPES:
        pytree.register_pytree_node(
            Box,
            lambda box: ([box.inner], None),
            lambda values, _: Box(values[0]),
            serialized_type_name=BOX_NAME,
            to_dumpable_context=lambda _: "box",
            from_dumpable_context=lambda _: None,
        )


def _save(module: torch.nn.Module, path: Path, *args: torch.Tensor) -> Path:
    _register_once()
    torch.manual_seed(0)
    torch.export.save(torch.export.export(module.eval(), args), str(path))
    return path


def _hide(monkeypatch, serialized_name: str) -> None:
    """What a process that never imported the class sees: torch does not know the name."""
    assert serialized_name in pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE
    monkeypatch.delitem(pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE, serialized_name)


def _names(result) -> list[str]:
    names = [o.name for o in result.spec.description.output]
    assert result.check.status == "checked" and result.check.reference == "PyTorch", result.check.line()
    assert sorted(o.name for o in result.check.outputs) == sorted(names)
    assert all(o.passed for o in result.check.outputs)
    return names


class Dict(torch.nn.Module):
    def forward(self, x):
        return {"logits": x * 2, "b b": torch.relu(x), "b_b": x - 1, 3: x + 1, "pair": (x * 3, x / 2)}


class Named(torch.nn.Module):
    def forward(self, x):
        return Pair(torch.relu(x), x * 2), (x + 1, x - 1)


def test_flattened_names_are_feature_names_nested_and_deduplicated():
    t = torch.zeros(1)
    assert flatten_outputs(t)[0] == ["output"]
    assert flatten_outputs((t, t))[0] == ["output", "output_1"]
    assert flatten_outputs(((t, t), t))[0] == ["output_0_0", "output_0_1", "output_1"]
    assert flatten_outputs({"a": t, "b b": t, 3: t, "b_b": t, "x.y": (t, t)})[0] == [
        "a",
        "b_b",
        "output_3",
        "b_b_2",
        "x_y_0",
        "x_y_1",
    ]
    assert flatten_outputs(Pair(t, {"é": t}))[0] == ["score", "feat__"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_dict_outputs_are_named_by_their_keys(tmp_path, fmt):
    path = _save(Dict(), tmp_path / "dict.pt2", torch.randn(2, 3))
    names = _names(convert(path, format=fmt, write=False, strict=True))
    assert names == ["logits", "b_b", "b_b_2", "output_3", "pair_0", "pair_1"]


class EchoKey(torch.nn.Module):
    def forward(self, x):
        return {"x": x * 2, "y": x + 1}


@pytest.mark.parametrize("suffix", [".pt2", ".pt"])
def test_an_output_named_like_an_input_gets_its_own_name(tmp_path, suffix):
    # one name for both made the exporter wire the output to the input (a .pt2 failed its check with
    # rel err 0.5) or rename the input (a .pt's input became x.1, and --input x was refused)
    assert flatten_outputs({"x": torch.zeros(1)}, ["x"])[0] == ["x_2"]
    x = torch.randn(1, 4)
    if suffix == ".pt2":
        path = _save(EchoKey(), tmp_path / "echo.pt2", x)
    else:
        path = tmp_path / "echo.pt"
        torch.jit.save(torch.jit.trace(EchoKey(), x, strict=False), str(path))
    result = convert(path, inputs={"x": (1, 4)}, format="mlprogram", write=False, strict=True)
    assert [i.name for i in result.spec.description.input] == ["x"]
    assert _names(result) == ["x_2", "y"]


@pytest.mark.parametrize("hidden", [False, True], ids=["registered", "not-registered"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_named_tuple_outputs_are_named_by_their_fields(tmp_path, monkeypatch, fmt, hidden):
    path = _save(Named(), tmp_path / "named.pt2", torch.randn(2, 3))
    if hidden:  # read from the program's treespec_namedtuple_fields, as a dict
        _hide(monkeypatch, PAIR_NAME)
    names = _names(convert(path, format=fmt, write=False, strict=True))
    assert names == ["output_0_score", "output_0_feat", "output_1_0", "output_1_1"]


def test_an_output_class_whose_fields_cannot_be_read_is_one_line(tmp_path, monkeypatch):
    class Boxed(torch.nn.Module):
        def forward(self, x):
            return Box(x * 2)

    path = _save(Boxed(), tmp_path / "box.pt2", torch.randn(2, 3))
    _hide(monkeypatch, BOX_NAME)
    with pytest.raises(UsageError) as caught:
        convert(path, write=False)
    message = str(caught.value)
    assert "\n" not in message and BOX_NAME in message and "does not list one field name a child" in message


# --- Hugging Face ------------------------------------------------------------------------------------------


def _vit(tmp_path, pooling: bool = True) -> tuple[Path, str]:
    """A tiny ViTModel returning a ModelOutput, and the name torch serialises its class under;
    without its pooling layer, pooler_output is None, which the ModelOutput leaves out."""
    pytest.importorskip("transformers")
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        return_dict=True,
    )
    model = ViTModel(config, add_pooling_layer=pooling)
    path = _save(model, tmp_path / f"vit_{'pooled' if pooling else 'plain'}.pt2", torch.randn(1, 3, 32, 32))
    out_type = type(model.eval()(torch.randn(1, 3, 32, 32)))
    return path, f"{out_type.__module__}.{out_type.__name__}"


@pytest.mark.slow
@pytest.mark.parametrize("hidden", [False, True], ids=["registered", "not-registered"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_model_output_is_named_by_its_fields(tmp_path, monkeypatch, fmt, hidden):
    path, serialized = _vit(tmp_path)
    if hidden:  # the fields come from the spec's context; the class is not imported
        _hide(monkeypatch, serialized)
    names = _names(convert(path, format=fmt, write=False, strict=True))
    assert names == ["last_hidden_state", "pooler_output"]


@pytest.mark.slow
def test_a_model_output_names_only_the_fields_it_holds(tmp_path, monkeypatch):
    path, serialized = _vit(tmp_path, pooling=False)
    _hide(monkeypatch, serialized)
    assert _names(convert(path, format="mlprogram", write=False, strict=True)) == ["last_hidden_state"]


@pytest.mark.slow
def test_a_model_output_converts_in_a_process_without_transformers(tmp_path):
    """The command line never imports transformers: the ModelOutput class is unknown there."""
    from coremltools.models.utils import load_spec

    path, _ = _vit(tmp_path)
    out = tmp_path / "vit.mlpackage"
    root = Path(__file__).resolve().parents[2]
    run = (
        "import sys; from bridgec.driver.cli import main; code = main(sys.argv[1:]); "
        "assert 'transformers' not in sys.modules, 'transformers was imported'; sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", run, str(path), "-q", "-o", str(out)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(root)),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert [o.name for o in load_spec(str(out)).description.output] == ["last_hidden_state", "pooler_output"]
