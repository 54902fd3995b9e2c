"""The walk of a ``.pt2`` program against torch's schema, and the type hints it and torch's
deserializer share (``pt2_program.schema_hints``, ``pt2_archive.memoised_hints``): what torch builds
from an archive and what the walk refuses do not depend on them."""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from torch._export.serde import schema, serialize

from bridgec.frontends import pt2_archive, pt2_program


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.norm = torch.nn.BatchNorm1d(3)

    def forward(self, x):
        return torch.relu(self.norm(self.linear(x))).reshape(-1, 3) * x.shape[0]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "net.pt2"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = torch.export.Dim("batch", min=2, max=64)
        program = torch.export.export(Net().eval(), (torch.randn(4, 4),), dynamic_shapes={"x": {0: batch}})
        torch.export.save(program, path)
    return path


def _member(path: Path, suffix: str) -> dict:
    with zipfile.ZipFile(path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(suffix)]
        return json.loads(archive.read(name))


def test_schema_hints_are_typings_and_read_only():
    for cls in vars(schema).values():
        if isinstance(cls, type) and dataclasses.is_dataclass(cls):
            hints = pt2_program.schema_hints(cls)
            assert dict(hints) == typing.get_type_hints(cls, globalns=vars(schema))
            assert pt2_program.schema_hints(cls) is hints
            with pytest.raises(TypeError):
                hints["extra"] = int  # type: ignore[index]


@pytest.mark.parametrize(
    ("suffix", "cls"),
    [
        ("models/model.json", "ExportedProgram"),
        ("model_weights_config.json", "PayloadConfig"),
        ("model_constants_config.json", "PayloadConfig"),
    ],
)
def test_memoised_hints_build_what_torch_builds(archive, suffix, cls):
    data = _member(archive, suffix)
    plain = serialize._dict_to_dataclass(getattr(schema, cls), copy.deepcopy(data))
    before = serialize.typing
    with pt2_archive.memoised_hints():
        assert serialize.typing is not before
        memoised = serialize._dict_to_dataclass(getattr(schema, cls), copy.deepcopy(data))
    assert serialize.typing is before
    assert memoised == plain


def test_memoised_hints_are_restored_after_an_error():
    before = serialize.typing
    with pytest.raises(RuntimeError), pt2_archive.memoised_hints():
        raise RuntimeError("torch failed")
    assert serialize.typing is before


def test_a_program_loads_the_same_with_the_loader_stand_ins(archive):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = torch.export.load(archive)
        with pt2_archive.loading([]):
            checked = torch.export.load(archive)
    assert str(checked.graph) == str(plain.graph)
    assert checked.graph_signature == plain.graph_signature
    assert checked.range_constraints.keys() == plain.range_constraints.keys()
    for name, tensor in plain.state_dict.items():
        assert torch.equal(checked.state_dict[name], tensor)
    x = torch.randn(6, 4)
    assert torch.equal(checked.module()(x), plain.module()(x))


def _first(program: dict, kind: str) -> dict:
    """The first tensor meta, node or input spec of ``program``."""
    graph = program["graph_module"]["graph"]
    if kind == "tensor":
        return next(iter(graph["tensor_values"].values()))
    if kind == "node":
        return graph["nodes"][0]
    return program["graph_module"]["signature"]["input_specs"][0]


def _replace(item: dict, value: dict) -> None:
    item.clear()
    item.update(value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: _first(p, "tensor").update(dtype=999), r"TensorMeta.dtype: '999' is not a ScalarType"),
        (lambda p: _first(p, "tensor").update(dtype="7"), r"TensorMeta.dtype: '7' is not a ScalarType"),
        (
            lambda p: _first(p, "tensor").update(requires_grad=1),
            r"TensorMeta.requires_grad: '1' is not true/false",
        ),
        (lambda p: _first(p, "tensor").update(sizes={}), r"TensorMeta.sizes: not a list"),
        (
            lambda p: _first(p, "tensor")["sizes"].append({"as_int": 1, "as_expr": None}),
            r"SymInt: 2 alternatives",
        ),
        (
            lambda p: _first(p, "tensor")["sizes"].append({"as_int": True}),
            r"SymInt.as_int: 'True' is not an integer",
        ),
        (lambda p: _first(p, "node").update(target="builtins.eval"), r"operator 'builtins.eval'"),
        (lambda p: _first(p, "node").update(extra=1), r"Node: field 'extra' is not in torch's schema"),
        (
            lambda p: _first(p, "node").update(metadata={"stack_trace": 3}),
            r"Node.metadata: '3' is not a string",
        ),
        (
            lambda p: _first(p, "node").update(is_hop_single_tensor_return="yes"),
            r"Node.is_hop_single_tensor_return: 'yes' is not true/false",
        ),
        (
            lambda p: _replace(_first(p, "spec"), {"user_input": {"arg": []}}),
            r"Argument: '\[\]' is not an object",
        ),
        (lambda p: _first(p, "node").update(is_hop_single_tensor_return=None), None),
    ],
)
def test_the_walk_refuses_a_field_of_the_wrong_kind(archive, edit, message):
    program = _member(archive, "models/model.json")
    pt2_program.check_program(copy.deepcopy(program))  # as torch wrote it
    edit(program)
    if message is None:  # an optional field may be null
        pt2_program.check_program(program)
        return
    with pytest.raises(pt2_program.Refused, match=message):
        pt2_program.check_program(program)
