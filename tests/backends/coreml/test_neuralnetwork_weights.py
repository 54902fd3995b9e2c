"""The backend's builder writes float weights as packed bytes instead of coremltools' per-float copy;
the layers it makes must be byte for byte the ones coremltools' own NeuralNetworkBuilder makes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bridgec.backends.coreml import _coremltools
from bridgec.backends.coreml.neuralnetwork import _builder_class


def _builders():
    ct = _coremltools.load()
    base = ct.models.neural_network.NeuralNetworkBuilder
    inputs = [("x", ct.models.datatypes.Array(1, 4, 6, 6)), ("m", ct.models.datatypes.Array(2, 5))]
    make = [base, _builder_class(base)]
    return [cls(inputs, [("y", None)], disable_rank5_shape_mapping=True) for cls in make]


def _conv(builder, W, *, groups=1, deconv=False, bias=None, input_name="x"):
    height, width = W.shape[:2]
    builder.add_convolution(
        name="conv",
        kernel_channels=W.shape[2],
        output_channels=W.shape[3] * (groups if deconv else 1),
        height=height,
        width=width,
        stride_height=1,
        stride_width=2,
        border_mode="valid",
        groups=groups,
        W=W,
        b=bias,
        has_bias=bias is not None,
        is_deconv=deconv,
        output_shape=(8, 8) if deconv else None,
        input_name=input_name,
        output_name="y",
        padding_top=1,
    )


# each case gets its own generator, the same for both builders
CASES = {
    "conv_bias": lambda b, r: _conv(b, r.standard_normal((3, 2, 4, 5)).astype(np.float32), bias=r.random(5)),
    "conv_depthwise": lambda b, r: _conv(b, r.standard_normal((3, 3, 1, 4)).astype(np.float32), groups=4),
    "conv_float64": lambda b, r: _conv(b, r.standard_normal((1, 1, 4, 3))),  # rounded to float32 alike
    "deconv_grouped": lambda b, r: _conv(
        b, r.standard_normal((3, 3, 4, 3)).astype(np.float32), groups=2, deconv=True
    ),
    "conv_weights_as_input": lambda b, r: _conv(b, np.zeros((3, 3, 4, 4), np.float32), input_name=["x", "w"]),
    "matmul_bias": lambda b, r: b.add_batched_mat_mul(
        "mm", ["m"], "y", weight_matrix_rows=5, weight_matrix_columns=3, W=r.random((5, 3)), bias=r.random(3)
    ),
    "matmul_two_inputs": lambda b, r: b.add_batched_mat_mul("mm", ["m", "x"], "y"),
    "constant_nd": lambda b, r: b.add_load_constant_nd(
        "c", "y", r.standard_normal((2, 3, 4)).astype(np.float32), (2, 3, 4)
    ),
    "constant_reshaped": lambda b, r: b.add_load_constant_nd("c", "y", np.arange(6.0), (1, 6)),
    "constant_int": lambda b, r: b.add_load_constant_nd("c", "y", np.arange(6), (6,)),
    "constant_nan_inf": lambda b, r: b.add_load_constant_nd(
        "c", "y", np.array([np.nan, -np.inf, 1e-45], np.float32), (3,)
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_are_byte_identical_to_coremltools(case):
    theirs, ours = _builders()
    CASES[case](theirs, np.random.default_rng(0))
    CASES[case](ours, np.random.default_rng(0))
    assert type(ours).__name__.startswith("Packed")
    assert ours.spec.SerializeToString(deterministic=True) == theirs.spec.SerializeToString(
        deterministic=True
    )
    assert ours.rank_dict == theirs.rank_dict


def test_a_size_mismatch_still_fails_like_coremltools():
    for builder in _builders():
        with pytest.raises(ValueError, match="do not match"):
            builder.add_load_constant_nd("c", "y", np.zeros(5, np.float32), (2, 3))


def test_the_weights_are_the_values_and_the_copy_is_fast():
    theirs, ours = _builders()
    W = np.random.default_rng(1).standard_normal((3, 3, 64, 512)).astype(np.float32)  # 295k floats
    times = []
    for builder in (theirs, ours):
        start = time.process_time()
        _conv(builder, W)
        times.append(time.process_time() - start)
    weights = np.array(ours.spec.neuralNetwork.layers[0].convolution.weights.floatValue, np.float32)
    np.testing.assert_array_equal(weights, W.transpose(3, 2, 0, 1).ravel())
    assert times[1] < times[0] / 3, times
