"""NeuralNetwork BatchNormalization, InstanceNormalization (ops/conv.py) and LayerNormalization
(ops/tensor.py) at their edges, against onnxruntime: epsilon 0 (which the batchnorm layer reads as
1e-5), training mode, Scale/B shapes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)


def _consts(**values: list[float]) -> str:
    return "\n ".join(
        f"{name} = Constant <value = float[{len(v)}] {{{', '.join(map(str, v))}}}> ()"
        for name, v in values.items()
    )


BN_PARAMS = _consts(s=[1.0, 0.5, -2.0], b=[0.1, 0.0, 3.0], m=[0.2, -1.0, 0.5], v=[0.3, 2.0, 1e-3])


def test_batch_norm_epsilon_zero_is_not_core_mls_default():
    # 1e-5 against a variance of 1e-3 would be a 0.5% error
    body = BN_PARAMS + "\n y = BatchNormalization <epsilon = 0.0> (x, s, b, m, v)"
    text = model_text("float[2,3,4,5] x", "float[2,3,4,5] y", body)
    assert "batchnorm" in assert_matches_onnxruntime(text)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            _consts(s=[1.0], b=[0.0], m=[0.0], v=[0.0])
            + "\n y = BatchNormalization <epsilon = 0.0> (x, s, b, m, v)",
            "epsilon 0",
        ),
        (
            BN_PARAMS + "\n y, rm, rv = BatchNormalization <training_mode = 1> (x, s, b, m, v)",
            "training mode",
        ),
        (
            _consts(s=[1.0, 2.0, 3.0], b=[0.0, 0.0, 1.0])
            + "\n y = InstanceNormalization <epsilon = 0.0> (x, s, b)",
            "epsilon 0",
        ),
    ],
)
def test_normalization_edges_refused(body, reason):
    channels = 1 if "v = Constant <value = float[1]" in body else 3
    text = model_text(f"float[2,{channels},4,5] x", "float y", body)
    assert reason in unsupported_reason(text)


@pytest.mark.parametrize(
    ("scale", "refused"), [("[5]", False), ("[1,5]", False), ("[4,1]", True), ("[2,3,4,5]", True)]
)
def test_layer_norm_scale_shapes(scale, refused):
    dims = [int(d) for d in scale.strip("[]").split(",")]
    values = np.random.default_rng(0).standard_normal(dims).round(3).reshape(-1)
    body = f"s = Constant <value = float{scale} {{{', '.join(map(str, values))}}}> ()\n y = LayerNormalization (x, s)"
    text = model_text("float[2,3,4,5] x", "float[2,3,4,5] y", body)
    if refused:
        assert "does not broadcast to the normalised shape" in unsupported_reason(text)
    else:
        assert "layerNormalization" in assert_matches_onnxruntime(text, tolerance=1e-5)
