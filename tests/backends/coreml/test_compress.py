"""--compress: the executor's dequantised weights against coremltools' own decompression, in every
mode and both formats, and what compression measures (size, error)."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import torch

from bridgec.backends.coreml import compress as C
from bridgec.backends.coreml.model import BuiltModel
from bridgec.driver.convert import convert
from tests.helpers import assert_matches

SHAPE = (1, 24, 6, 6)
X = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


class Tiny(torch.nn.Module):
    """Weights of 2048+ values in a convolution, a transposed one (output channels on axis 1 of its
    weights) and a linear layer; biases stay float. 24 input channels and 100 outputs are no multiple
    of int4's block (32) and the LUT group (16): those shrink to fit rather than leave the weight float."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(24, 64, 3, padding=1)
        self.up = torch.nn.ConvTranspose2d(64, 32, 3, padding=1)
        self.fc = torch.nn.Linear(32, 100)

    def forward(self, x):
        return self.fc(self.up(torch.relu(self.conv(x))).mean((2, 3)))


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("compress") / "tiny.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(Tiny().eval(), torch.from_numpy(X)).save(str(path))
    return path


_BUILT: dict = {}


def built(tiny_path, format: str, ios: int) -> BuiltModel:
    key = (format, ios)
    if key not in _BUILT:
        result = convert(tiny_path, inputs={"x": SHAPE}, target=f"iOS{ios}", format=format, write=False)
        _BUILT[key] = result.model
    return _BUILT[key]


CASES = [
    (format, ios, mode)
    for format, ios in (("mlprogram", 16), ("mlprogram", 18), ("neuralnetwork", 15))
    for mode in C.MODES
    if C.MODES[mode].refusal(format, ios) is None
]


def _decompressed(model: BuiltModel) -> BuiltModel:
    """coremltools' own decompression of ``model``: the oracle for the executor's constexpr ops and
    quantized WeightParams."""
    import coremltools as ct
    from coremltools.models.neural_network import quantization_utils

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model.format == "mlprogram":
            plain = ct.optimize.coreml.decompress_weights(model.mlmodel)
            return BuiltModel("mlprogram", plain.get_spec(), plain)
        mlmodel = ct.models.MLModel(model.spec, skip_model_load=True)
        plain = quantization_utils.quantize_weights(mlmodel, None, quantization_mode="dequantization")
        return BuiltModel("neuralnetwork", plain.get_spec())


def _quantized_fields(spec) -> int:
    """How many WeightParams of the network's layers are stored quantized."""
    return sum(
        1
        for layer in spec.neuralNetwork.layers
        for _, value in getattr(layer, layer.WhichOneof("layer")).ListFields()
        if type(value).__name__ == "WeightParams" and len(value.rawValue) and not len(value.floatValue)
    )


@pytest.mark.parametrize("format, ios, mode", CASES)
def test_executor_dequantises_as_coremltools_does(tiny_path, format, ios, mode):
    original = built(tiny_path, format, ios)
    compressed = C.compress(original, mode, ios).built
    plain = _decompressed(compressed)
    if format == "mlprogram":
        from bridgec.backends.coreml.mlprogram import mil_op_kinds

        ops = mil_op_kinds(compressed.spec)
        assert sum(n for op, n in ops.items() if op.startswith("constexpr_")) == 3, ops
        assert not any(op.startswith("constexpr_") for op in mil_op_kinds(plain.spec))
    else:
        assert _quantized_fields(compressed.spec) == 3 and _quantized_fields(plain.spec) == 0
    got = compressed.run_reference({"x": X})["output"]
    assert_matches(got, plain.run_reference({"x": X})["output"], tolerance=1e-6)
    assert not np.allclose(got, original.run_reference({"x": X})["output"], rtol=0, atol=1e-6)  # lossy


def test_mlprogram_ops_by_target(tiny_path):
    from bridgec.backends.coreml.mlprogram import mil_op_kinds

    def ops(ios, mode):
        return {
            op for op in mil_op_kinds(C.compress(built(tiny_path, "mlprogram", ios), mode, ios).built.spec)
        }

    assert "constexpr_affine_dequantize" in ops(16, "int8")
    assert "constexpr_blockwise_shift_scale" in ops(18, "int8")
    assert "constexpr_blockwise_shift_scale" in ops(18, "int4")
    assert "constexpr_lut_to_dense" in ops(16, "palettize4") and "constexpr_lut_to_dense" in ops(
        18, "palettize4"
    )


def test_sizes(tiny_path):
    for format, ios in (("mlprogram", 16), ("neuralnetwork", 15)):
        original = built(tiny_path, format, ios)
        ratios = {}
        for mode in ("int8", "palettize4", "palettize2"):
            done = C.compress(original, mode, ios)
            ratios[mode] = done.size_after / done.size_before
        assert 0.24 < ratios["int8"] < 0.3, ratios  # 8 of 32 bits, plus the float biases and scales
        assert 0.11 < ratios["palettize4"] < 0.16 and ratios["palettize2"] < 0.09, ratios


def test_granularity_and_refusals():
    int4, pal = C.MODES["int4"], C.MODES["palettize4"]
    assert int4.granularity("mlprogram", 18).startswith("per-block")
    assert int4.granularity("neuralnetwork", 15).startswith("per-channel")
    assert pal.granularity("mlprogram", 17).startswith("per-tensor")
    assert pal.granularity("mlprogram", 18).startswith("per-grouped-channel")
    assert "needs --target iOS18" in int4.refusal("mlprogram", 17)
    assert "needs --target iOS16" in C.MODES["int8"].refusal("mlprogram", 15)
    assert all(m.refusal("neuralnetwork", 13) is None for m in C.MODES.values())


def test_kmeans_lut():
    rng = np.random.default_rng(1)
    few = rng.choice(np.float32([-1, 0.5, 2]), size=100)
    lut, index = C.kmeans_lut(few, 2)
    assert lut.dtype == np.float32 and lut.size == 4 and index.dtype == np.uint8
    np.testing.assert_array_equal(lut[index], few)  # as many values as entries: exact
    values = rng.standard_normal(5000).astype(np.float32)
    for bits in (2, 4, 8):
        lut, index = C.kmeans_lut(values, bits)
        assert lut.size == 1 << bits and np.all(np.diff(lut) >= 0)
        nearest = np.abs(values[:, None] - lut[None, :]).min(axis=1)
        np.testing.assert_allclose(
            np.abs(lut[index] - values), nearest, atol=1e-6
        )  # each to its nearest entry
        grid = np.linspace(values.min(), values.max(), 1 << bits)
        uniform = np.square(np.abs(values[:, None] - grid[None, :]).min(axis=1)).mean()
        # Lloyd's steps from the even grid never raise the squared error, and with few entries they
        # move them where the values are
        assert np.square(lut[index] - values).mean() < (0.6 if bits <= 4 else 1.0) * uniform, bits


def test_weight_params_decoding():
    """NeuralNetwork.proto's quantized WeightParams, packed by hand: values of N bits, most
    significant bit first (as coremltools writes them); linear "W = q * scale + bias" per output
    channel, or a LUT of 2^N values."""
    from coremltools.proto import NeuralNetwork_pb2

    from bridgec.backends.coreml.executor.weights import weight_array

    q = [3, 0, 1, 2, 15, 4]  # 4 bits: bytes 0x30, 0x12, 0xF4
    params = NeuralNetwork_pb2.WeightParams(rawValue=bytes([0x30, 0x12, 0xF4]))
    params.quantization.numberOfBits = 4
    params.quantization.linearQuantization.scale.extend([0.5, 2.0])
    params.quantization.linearQuantization.bias.extend([-1.0, 1.0])
    want = np.array(q, np.float32).reshape(2, 3) * [[0.5], [2.0]] + [[-1.0], [1.0]]
    np.testing.assert_array_equal(weight_array(params, (2, 3)), want)
    # a deconvolution's output channels are its weights' axis 1
    np.testing.assert_array_equal(
        weight_array(params, (3, 2), channel_axis=1),
        np.array(q, np.float32).reshape(3, 2) * [0.5, 2.0] + [-1, 1],
    )
    lut = NeuralNetwork_pb2.WeightParams(rawValue=bytes([0b11000110]))  # 2 bits: 3, 0, 1, 2
    lut.quantization.numberOfBits = 2
    lut.quantization.lookupTableQuantization.floatValue.extend([-1.0, 0.0, 0.5, 4.0])
    np.testing.assert_array_equal(weight_array(lut, (4,)), [4.0, -1.0, 0.0, 0.5])
    lut.quantization.lookupTableQuantization.floatValue.append(9.0)
    with pytest.raises(ValueError, match="2-bit indices need 4"):
        weight_array(lut, (4,))
