"""BatchNormalization, InstanceNormalization, LayerNormalization as MIL ops, against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, freeze, graph

VAR = np.random.default_rng(3).uniform(0.5, 2.0, 3).astype(np.float32)


@pytest.mark.parametrize(
    ("shape", "mil_op"), [("[2,3,4,5]", "batch_norm"), ("[2,3,7]", "batch_norm"), ("[4,3]", "mul")]
)
def test_batch_norm(shape, mil_op):
    g = graph(
        "y = BatchNormalization <epsilon = 0.001> (x, s, b, m, v)",
        inputs=f"float{shape} x, float[3] s, float[3] b, float[3] m, float[3] v",
    )
    check(freeze(g, s=None, b=None, m=None, v=VAR), (mil_op,))


def test_conv_batch_norm_folds():
    """coremltools' own passes fold the batchnorm into the conv: one conv is left."""
    from bridgec.backends.coreml.mlprogram import mil_op_counts

    g = graph(
        "c = Conv <pads = [1, 1, 1, 1]> (x, w)\n y = BatchNormalization (c, s, b, m, v)",
        inputs="float[1,2,6,6] x, float[3,2,3,3] w, float[3] s, float[3] b, float[3] m, float[3] v",
    )
    model = check(freeze(g, w=None, s=None, b=None, m=None, v=VAR), ("conv",))
    assert mil_op_counts(model) == {"conv": 1}


@pytest.mark.parametrize("shape", ["[2,3,4,5]", "[2,3,7]"])
def test_instance_norm(shape):
    g = graph(
        "y = InstanceNormalization <epsilon = 0.01> (x, s, b)",
        inputs=f"float{shape} x, float[3] s, float[3] b",
    )
    check(freeze(g, s=None, b=None), ("instance_norm",))


@pytest.mark.parametrize(("axis", "scale"), [(-1, "[5]"), (2, "[4,5]"), (1, "[1,4,1]")])
def test_layer_norm(axis, scale):
    g = graph(
        f"y = LayerNormalization <axis = {axis}, epsilon = 0.0001> (x, s, b)",
        inputs=f"float[2,3,4,5] x, float{scale} s, float{scale} b",
    )
    check(freeze(g, s=None, b=None), ("layer_norm",))


def test_layer_norm_without_bias():
    g = graph("y = LayerNormalization (x, s)", inputs="float[2,3,4,5] x, float[5] s")
    check(freeze(g, s=None), ("layer_norm",))


@pytest.mark.parametrize("scale", ["[4,1]", "[3,1,1,5]", "[2]"])
def test_layer_norm_scale_not_broadcasting_to_the_normalised_shape_refused(scale):
    from bridgec.backends.coreml import mlprogram_ops as mil

    g = freeze(graph("y = LayerNormalization (x, s)", inputs=f"float[2,3,4,5] x, float{scale} s"), s=None)
    node = g.nodes[0]
    assert "does not broadcast to the normalised shape" in mil.lookup(node).check(node, None)


def test_batch_norm_epsilon_zero():
    g = graph(
        "y = BatchNormalization <epsilon = 0.0> (x, s, b, m, v)",
        inputs="float[2,3,4,5] x, float[3] s, float[3] b, float[3] m, float[3] v",
    )
    check(freeze(g, s=None, b=None, m=None, v=VAR), ("batch_norm",))
