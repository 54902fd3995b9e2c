"""The direct exporter's large weights kept apart (``pt2_direct.write(apart=...)``): the model declares
them as graph inputs, the IR holds the arrays themselves as constants (no copy through protobuf),
and everything that reads the exported model -- the IR import, onnxruntime, the state check, a
failed check's diagnosis -- sees the model it would have seen with them as initializers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import pytest
import torch
from onnx import helper
from torch import nn

from bridgec.core import ir, runtimes
from bridgec.core.errors import UsageError
from bridgec.core.state import StateBuffer
from bridgec.driver import check as check_mod
from bridgec.frontends import onnx_file, pt2_direct, pt2_state
from tests.frontends.test_export_traced import _assert_same_numbers, _open, _save_pt2


class _Projection(nn.Module):
    """A batch of vectors through a linear layer (MatMul by the folded transpose of a weight of 8192
    values, past the 4096 kept in the model), a small one, then ReLU6 (lowered for Core ML)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.large = nn.Linear(64, 128)
        self.small = nn.Linear(128, 8)

    def forward(self, x):
        return nn.functional.hardtanh(self.small(self.large(x)), -1.0, 1.0)


class _Plain(_Projection):
    """The same layers, without the activation bridgec exports as its own op (onnxruntime runs it)."""

    def forward(self, x):
        return self.small(self.large(x))


def _program(module: type[nn.Module] = _Projection) -> torch.export.ExportedProgram:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(module().eval(), (torch.randn(1, 5, 64),))


def _written(apart: dict | None, module: type[nn.Module] = _Projection) -> onnx.ModelProto:
    return pt2_direct.export_direct(_program(module), (), ["x"], ["y"], True, None, apart)


def _constants(graph: gs.Graph) -> dict[str, np.ndarray]:
    return {t.name: np.asarray(t.values) for t in graph.tensors().values() if isinstance(t, gs.Constant)}


def test_the_large_weights_are_graph_inputs_and_their_arrays_are_kept():
    apart: dict[str, np.ndarray] = {}
    model = _written(apart)
    whole = _written(None)
    inputs = {i.name: i for i in model.graph.input}
    initializers = {t.name for t in model.graph.initializer}
    assert set(apart) == {n for n in inputs if n != "x"}
    assert apart and all(ir.is_large_weight(v) for v in apart.values())
    assert not set(apart) & initializers
    whole_initializers = {t.name: onnx.numpy_helper.to_array(t) for t in whole.graph.initializer}
    for name, value in apart.items():
        declared = inputs[name].type.tensor_type
        assert [d.dim_value for d in declared.shape.dim] == list(value.shape)
        assert declared.elem_type == helper.np_dtype_to_tensor_dtype(value.dtype)
        np.testing.assert_array_equal(value, whole_initializers[name])  # the same values
    # the small weights stay initializers of the model
    assert initializers == {n for n in whole_initializers if n not in apart}
    assert [n.op_type for n in model.graph.node] == [n.op_type for n in whole.graph.node]


def test_the_folded_transpose_is_a_view_of_the_weight_itself():
    program = _program()
    apart: dict[str, np.ndarray] = {}
    pt2_direct.export_direct(program, (), ["x"], ["y"], True, None, apart)
    weight = program.state_dict["large.weight"].detach().numpy()
    (folded,) = apart.values()
    assert folded.shape == weight.T.shape and np.shares_memory(folded, weight)
    np.testing.assert_array_equal(folded, weight.T)


def test_the_graph_is_the_one_initializers_import_to():
    apart: dict[str, np.ndarray] = {}
    light = onnx_file.graph_from_model(_written(apart), Path("m.onnx"), weights=apart)
    whole = onnx_file.graph_from_model(_written(None), Path("m.onnx"))
    assert [t.name for t in light.inputs] == [t.name for t in whole.inputs] == ["x"]
    assert [(n.name, n.op, [t.name for t in n.inputs]) for n in light.nodes] == [
        (n.name, n.op, [t.name for t in n.inputs]) for n in whole.nodes
    ]
    mine, theirs = _constants(light), _constants(whole)
    assert mine.keys() == theirs.keys()
    for name, value in theirs.items():
        assert mine[name].dtype == value.dtype and mine[name].shape == value.shape, name
        np.testing.assert_array_equal(mine[name], value)
    for name, kept in apart.items():
        held = light.tensors()[name].values
        assert np.shares_memory(held, kept)  # no copy
        assert not held.flags.writeable  # a view of PyTorch's parameter: never written through
        with pytest.raises(ValueError):
            held[...] = 0


def test_onnxruntime_fed_the_weights_gives_the_whole_models_outputs():
    apart: dict[str, np.ndarray] = {}
    light = _written(apart, _Plain)
    x = np.random.default_rng(0).standard_normal((1, 5, 64)).astype(np.float32)
    got = runtimes.run_model(light, {"x": x, **apart})
    want = runtimes.run_model(_written(None, _Plain), {"x": x})
    np.testing.assert_array_equal(got["y"], want["y"])


def _save_script(module: nn.Module, args: tuple, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(module.eval(), args).save(str(path))
    return path


@pytest.mark.parametrize("suffix", [".pt2", ".pt"])
def test_a_pytorch_source_holds_its_weights_apart_with_pytorchs_numbers(tmp_path, suffix):
    # torch.export's program and a TorchScript file both go through the direct writer
    save = _save_pt2 if suffix == ".pt2" else _save_script
    path = save(_Projection(), (torch.randn(1, 5, 64),), tmp_path / f"p{suffix}")
    inputs = {"x": (1, 5, 64)} if suffix == ".pt" else None
    source, steps, _ = _open(path, inputs)
    assert steps == [f"exporting p{suffix} to ONNX with the direct exporter"]
    assert source.onnx_weights and set(source.onnx_weights) <= set(source.graph.tensors())
    assert not set(source.onnx_weights) & {t.name for t in source.graph.inputs}
    _assert_same_numbers(source)


def test_a_state_computed_from_weights_alone_is_still_constant():
    # y = x + 1, and the state buffer s = Identity(W): W is a graph input only because it is kept apart
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    w = helper.make_tensor_value_info("W", onnx.TensorProto.FLOAT, [8192])
    outputs = [
        helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1]),
        helper.make_tensor_value_info("s_out", onnx.TensorProto.FLOAT, [8192]),
    ]
    nodes = [helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Identity", ["W"], ["s_out"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x, w], outputs))
    buffer = StateBuffer("s", "s_in", "s_out")
    pt2_state.refuse_constant_states(model, [buffer], "m.pt2")  # W read as an input: not refused
    with pytest.raises(UsageError, match="sets buffer s to the same value on every call"):
        pt2_state.refuse_constant_states(model, [buffer], "m.pt2", weights={"W"})


def test_a_failed_checks_diagnosis_runs_the_exported_model_with_its_weights():
    # a pass that changed the numbers (an Add made a Sub): to tell it from the export, the diagnosis
    # runs the exported model, its weights fed as the inputs they are, and names the node
    apart: dict[str, np.ndarray] = {}
    light = _written(apart, _Plain)
    graph = onnx_file.graph_from_model(light, Path("m.onnx"), weights=apart)
    (add,) = [n for n in graph.nodes if n.op == "Add"][:1]
    add.op = "Sub"
    x = np.random.default_rng(0).standard_normal((1, 5, 64)).astype(np.float32)
    with torch.no_grad():
        want = {"y": _Plain().eval()(torch.from_numpy(x)).numpy()}
    subject = check_mod.Subject(
        built=None,
        graph=graph,
        reference="PyTorch",
        run_source=lambda feeds: want,
        source_model=light,
        source_weights=apart,
    )
    where = check_mod.diagnose(subject, {"x": x}, {"x": x}, want, 1e-4, lambda line: None)
    assert where.startswith(f"a pass changed the numbers first at node {add.name!r} (Sub)"), where
    # without the weights the exported model cannot run, and no pass is named
    subject.source_weights = None
    where = check_mod.diagnose(subject, {"x": x}, {"x": x}, want, 1e-4, lambda line: None)
    assert where.startswith("the graph after the passes already differs"), where
