"""The runner: input checking, unsupported layers, chains, files and intermediates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.models.utils import save_spec
from coremltools.proto import Model_pb2

from bridgec.backends.coreml.executor import ExecutorError, InputError, UnsupportedLayerError, run
from tests.backends.coreml.executor.neuralnetwork._executor_helpers import build, rand
from tests.helpers import assert_matches


def _chain(builder) -> None:
    """conv -> batchnorm -> relu6 (clip) -> depthwise conv -> residual add -> global avg pool -> fc."""
    w1, b1 = rand(6, 3, 3, 3, seed=1) * 0.3, rand(6, seed=2)
    builder.add_convolution(
        "c1",
        3,
        6,
        3,
        3,
        2,
        2,
        "same",
        1,
        w1.transpose(2, 3, 1, 0),
        b1,
        True,
        input_name="x",
        output_name="c1",
    )
    g, bt, m, v = rand(6, seed=3), rand(6, seed=4), rand(6, seed=5), rand(6, seed=6, low=0.5, high=1.5)
    builder.add_batchnorm("bn", 6, g, bt, m, v, input_name="c1", output_name="bn")
    builder.add_clip("relu6", "bn", "r", 0.0, 6.0)
    wd = rand(6, 1, 3, 3, seed=7)
    builder.add_convolution(
        "dw",
        1,
        6,
        3,
        3,
        1,
        1,
        "valid",
        6,
        wd.transpose(2, 3, 1, 0),
        None,
        False,
        input_name="r",
        output_name="dw",
        padding_top=1,
        padding_bottom=1,
        padding_left=1,
        padding_right=1,
    )
    builder.add_add_broadcastable("res", ["r", "dw"], "sum")
    builder.add_pooling("gap", 1, 1, 1, 1, "AVERAGE", "VALID", "sum", "gap", is_global=True)
    builder.add_flatten_to_2d("flat", "gap", "flat", axis=1)
    builder.add_inner_product("fc", rand(4, 6, seed=8), rand(4, seed=9), 6, 4, True, "flat", "y")
    builder.add_softmax_nd("sm", "y", "prob", axis=-1)


def _chain_reference(x: np.ndarray) -> dict[str, np.ndarray]:
    t = torch.from_numpy(x)
    w1, b1 = rand(6, 3, 3, 3, seed=1) * 0.3, rand(6, seed=2)
    c1 = F.conv2d(F.pad(t, (0, 1, 0, 1)), torch.from_numpy(w1), torch.from_numpy(b1), stride=2)
    g, bt, m, v = (
        torch.from_numpy(a)
        for a in (rand(6, seed=3), rand(6, seed=4), rand(6, seed=5), rand(6, seed=6, low=0.5, high=1.5))
    )
    r = torch.clamp(F.batch_norm(c1, m, v, g, bt, eps=1e-5), 0, 6)
    dw = F.conv2d(r, torch.from_numpy(rand(6, 1, 3, 3, seed=7)), padding=1, groups=6)
    gap = (r + dw).mean(dim=(2, 3))
    y = gap @ torch.from_numpy(rand(4, 6, seed=8)).T + torch.from_numpy(rand(4, seed=9))
    return {"y": y.numpy(), "prob": F.softmax(y, dim=-1).numpy()}


X = rand(2, 3, 16, 16, seed=10)


def test_multi_layer_chain():
    out = run(build({"x": X.shape}, _chain, outputs=("y", "prob")), {"x": X})
    ref = _chain_reference(X)
    assert sorted(out) == ["prob", "y"]
    assert_matches(out["y"], ref["y"], tolerance=1e-5)
    assert_matches(out["prob"], ref["prob"], tolerance=1e-5)


def test_saved_mlmodel_runs_from_path(tmp_path):
    spec = build({"x": X.shape}, _chain, outputs=("y", "prob"))
    path = tmp_path / "chain.mlmodel"
    save_spec(spec, str(path))
    from_path = run(path, {"x": X})
    from_str = run(str(path), {"x": X})
    direct = run(spec, {"x": X})
    for name in ("y", "prob"):
        np.testing.assert_array_equal(from_path[name], direct[name])
        np.testing.assert_array_equal(from_str[name], direct[name])


def test_intermediates_returns_every_blob():
    blobs = run(build({"x": X.shape}, _chain, outputs=("y", "prob")), {"x": X}, intermediates=True)
    assert list(blobs) == ["c1", "bn", "r", "dw", "sum", "gap", "flat", "y", "prob"]
    assert blobs["c1"].shape == (2, 6, 8, 8)
    assert blobs["gap"].shape == (2, 6, 1, 1)
    assert all(b.dtype == np.float32 for b in blobs.values())


def test_unknown_layer_kind_raises_with_name_and_kind():
    spec = build(
        {"x": (1, 4, 3, 3)}, lambda b: b.add_lrn("my_lrn", "x", "y", alpha=1e-4, beta=0.75, local_size=3)
    )
    with pytest.raises(UnsupportedLayerError) as info:
        run(spec, {"x": np.zeros((1, 4, 3, 3), np.float32)})
    msg = str(info.value)
    assert "my_lrn" in msg and "'lrn'" in msg and "cannot run" in msg


def test_missing_input_names_input_and_shape():
    spec = build({"x": (1, 3, 4, 4)}, lambda b: b.add_activation("a", "RELU", "x", "y"))
    with pytest.raises(InputError, match=r"missing input 'x' \(expected shape \(1, 3, 4, 4\)\)"):
        run(spec, {})


def test_misshaped_input_names_input_and_shape():
    spec = build({"x": (1, 3, 4, 4)}, lambda b: b.add_activation("a", "RELU", "x", "y"))
    with pytest.raises(
        InputError, match=r"input 'x' has shape \(1, 3, 4, 5\), expected shape \(1, 3, 4, 4\)"
    ):
        run(spec, {"x": np.zeros((1, 3, 4, 5), np.float32)})


def test_unknown_input_is_rejected():
    spec = build({"x": (2,)}, lambda b: b.add_activation("a", "RELU", "x", "y"))
    with pytest.raises(InputError, match="unknown input"):
        run(spec, {"x": np.zeros(2, np.float32), "z": np.zeros(2, np.float32)})


def test_inputs_are_cast_to_float32():
    spec = build({"x": (3,)}, lambda b: b.add_activation("a", "RELU", "x", "y"))
    y = run(spec, {"x": np.array([-1.0, 0.5, 2.0], dtype=np.float64)})["y"]
    assert y.dtype == np.float32
    assert_matches(y, np.array([0.0, 0.5, 2.0]), tolerance=1e-5)


def test_bad_layer_parameters_name_the_layer():
    def add(b):
        b.add_reshape_static("bad_reshape", "x", "y", output_shape=(5, 5))

    spec = build({"x": (2, 3)}, add)
    with pytest.raises(Exception, match="bad_reshape"):
        run(spec, {"x": np.zeros((2, 3), np.float32)})


def test_float16_weights_are_decoded():
    x, w = rand(1, 2, 5, 5, seed=11), rand(3, 2, 3, 3, seed=12)

    def add(b):
        b.add_convolution(
            "c",
            2,
            3,
            3,
            3,
            1,
            1,
            "valid",
            1,
            w.transpose(2, 3, 1, 0),
            None,
            False,
            input_name="x",
            output_name="y",
        )

    spec = build({"x": x.shape}, add)
    weights = spec.neuralNetwork.layers[0].convolution.weights
    weights.float16Value = np.asarray(weights.floatValue, dtype="<f2").tobytes()
    del weights.floatValue[:]
    w16 = w.astype(np.float16).astype(np.float32)
    assert_matches(
        run(spec, {"x": x})["y"], F.conv2d(torch.from_numpy(x), torch.from_numpy(w16)), tolerance=1e-6
    )


def test_non_network_model_is_rejected():
    spec = Model_pb2.Model()
    spec.glmRegressor.offset.append(0.0)
    with pytest.raises(ExecutorError, match="not a NeuralNetwork"):
        run(spec, {})
