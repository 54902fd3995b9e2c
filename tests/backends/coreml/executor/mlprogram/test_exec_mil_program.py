"""run() on ML Programs: model forms, input checking, unsupported ops, intermediates, and a torch
model converted by coremltools' own torch frontend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bridgec.backends.coreml.executor import InputError, UnsupportedLayerError, load_spec, run
from bridgec.backends.coreml.executor.mlprogram import OPS, run_mlprogram
from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, save_program
from tests.helpers import assert_matches


def _two_input_program(tmp_path, fp16=False):
    w = rand(4, 3, 3, 3, seed=1)

    def build(x, y):
        c = mb.conv(x=x, weight=w, pad_type="same")
        return mb.add(x=mb.relu(x=c), y=y)

    return save_program(build, {"x": (1, 3, 5, 5), "y": (1, 4, 1, 1)}, tmp_path, fp16=fp16), w


def _reference(x, y, w):
    c = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    return (torch.relu(c) + torch.from_numpy(y)).numpy()


def test_model_forms_agree(tmp_path):
    path, w = _two_input_program(tmp_path)
    feeds = {"x": rand(1, 3, 5, 5, seed=2), "y": rand(1, 4, 1, 1, seed=3)}
    want = _reference(feeds["x"], feeds["y"], w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ct.models.MLModel(str(path), skip_model_load=True)
    spec = load_spec(path)
    assert spec.WhichOneof("Type") == "mlProgram"
    results = [
        run(path, feeds),
        run(str(path), feeds),
        run(model, feeds),
        run((spec, path / "Data" / "com.apple.CoreML" / "weights"), feeds),
        run_mlprogram(path, feeds),
    ]
    for result in results:
        assert list(result) == [f.name for f in spec.description.output]
        (out,) = result.values()
        assert out.dtype == np.float32
        # torch's conv and numpy's BLAS sum the 27 products in orders that depend on the CPU's SIMD
        # kernels: a few float32 ulps apart (1.6e-7 on one machine), so 1e-7 was a flaky bound
        assert_matches(out, want, tolerance=1e-6)


def test_input_errors(tmp_path):
    path, _ = _two_input_program(tmp_path)
    x, y = rand(1, 3, 5, 5), rand(1, 4, 1, 1)
    with pytest.raises(InputError, match="missing input 'y'"):
        run(path, {"x": x})
    with pytest.raises(InputError, match=r"unknown input \['z'\]"):
        run(path, {"x": x, "y": y, "z": y})
    with pytest.raises(
        InputError, match=r"input 'x' has shape \(1, 3, 5, 4\), expected shape \(1, 3, 5, 5\)"
    ):
        run(path, {"x": x[..., :4], "y": y})


def test_unsupported_op_names_op_and_variable(tmp_path, monkeypatch):
    path, _ = _two_input_program(tmp_path)
    monkeypatch.delitem(OPS, "relu")
    with pytest.raises(UnsupportedLayerError, match=r"layer 'relu_0' of kind 'relu'"):
        run(path, {"x": rand(1, 3, 5, 5), "y": rand(1, 4, 1, 1)})


def test_op_without_implementation_is_refused(tmp_path):
    path = save_program(lambda x: mb.sliding_windows(x=x, axis=1, size=2), {"x": (1, 4, 3)}, tmp_path)
    with pytest.raises(UnsupportedLayerError, match="'sliding_windows'"):
        run(path, {"x": rand(1, 4, 3)})


def test_intermediates_cover_every_op_in_program_dtype(tmp_path):
    path, w = _two_input_program(tmp_path, fp16=True)
    feeds = {"x": rand(1, 3, 5, 5, seed=4), "y": rand(1, 4, 1, 1, seed=5)}
    inter = run(path, feeds, intermediates=True)
    spec = load_spec(path)
    from bridgec.backends.coreml.executor.mlprogram.program import main_block

    ops = [op for op in main_block(spec)[1].operations if op.type != "const"]
    assert {op.type for op in ops} >= {"cast", "conv", "relu", "add"}
    assert set(inter) == {o.name for op in ops for o in op.outputs}
    conv_out = next(op.outputs[0].name for op in ops if op.type == "conv")
    assert inter[conv_out].dtype == np.float16
    (out_name,) = [f.name for f in spec.description.output]
    assert inter[out_name].dtype == np.float32
    assert_matches(inter[out_name], _reference(feeds["x"], feeds["y"], w), tolerance=4e-4)
    assert_matches(inter[out_name], run(path, feeds)[out_name], tolerance=0)


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        y = self.pool(nn.functional.relu6(self.bn(self.conv(x))))
        y = nn.functional.adaptive_avg_pool2d(y, 4) + 0.5 * y.mean(dim=(2, 3), keepdim=True)
        return torch.softmax(self.fc(y.flatten(1)), dim=-1), y


@pytest.mark.parametrize("target", ["iOS15", "iOS17"])
def test_torch_module_converted_by_coremltools(target, tmp_path):
    torch.manual_seed(0)
    module = _Small().eval()
    module.bn.running_mean.uniform_(-0.5, 0.5)
    module.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, x)
        model = ct.convert(
            traced,
            convert_to="mlprogram",
            inputs=[ct.TensorType(name="x", shape=x.shape)],
            minimum_deployment_target=getattr(ct.target, target),
            compute_precision=ct.precision.FLOAT32,
        )
    path = tmp_path / "small.mlpackage"
    model.save(str(path))
    got = list(run(path, {"x": x.numpy()}).values())
    with torch.no_grad():
        want = module(x)
    assert len(got) == 2
    for g, w_ in zip(got, want, strict=True):
        assert_matches(g, w_, tolerance=1e-5)


def test_flexible_input_shape(tmp_path):
    from coremltools.converters.mil.mil import get_new_symbol

    w = rand(3, 4, seed=6)
    batch = get_new_symbol()

    @mb.program(input_specs=[mb.TensorSpec(shape=(batch, 4))], opset_version=ct.target.iOS15)
    def prog(x):
        y = mb.linear(x=x, weight=w)
        return mb.reshape(x=y, shape=[-1, 1, 3])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ct.convert(
            prog,
            convert_to="mlprogram",
            inputs=[ct.TensorType(name="x", shape=(ct.RangeDim(1, 8), 4))],
            minimum_deployment_target=ct.target.iOS15,
            compute_precision=ct.precision.FLOAT32,
        )
    path = tmp_path / "flex.mlpackage"
    model.save(str(path))
    for n in (1, 5):
        x = rand(n, 4, seed=n)
        (got,) = run(path, {"x": x}).values()
        assert_matches(got, (x @ w.T).reshape(n, 1, 3), tolerance=1e-6)
    with pytest.raises(InputError, match="expected shape"):
        run(path, {"x": rand(9, 4)})
