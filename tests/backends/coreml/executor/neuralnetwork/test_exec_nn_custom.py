"""custom layers run through bridgec.runtime_kernels.catalog references."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.proto import NeuralNetwork_pb2

from bridgec.backends.coreml.executor import UnsupportedLayerError, run
from tests.backends.coreml.executor.neuralnetwork._executor_helpers import build, rand, run_one
from tests.helpers import assert_matches


def _add_custom(class_name: str, **params: float):
    def add(builder):
        p = NeuralNetwork_pb2.CustomLayerParams()
        p.className = class_name
        for key, value in params.items():
            p.parameters[key].doubleValue = value
        builder.add_custom("cust", ["x"], ["y"], custom_proto_spec=p)

    return add


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (-0.25, 2.0)])
def test_custom_hardtanh(lo, hi):
    x = rand(1, 3, 4, 4, seed=1)
    y = run_one({"x": x}, _add_custom("HardTanh", min_value=lo, max_value=hi))
    assert_matches(y, np.clip(x, lo, hi), tolerance=1e-5)


def test_custom_hardtanh_infinite_bound():
    x = rand(2, 5, seed=2, low=-10, high=10)
    y = run_one({"x": x}, _add_custom("HardTanh", min_value=-1.0, max_value=float("inf")))
    assert_matches(y, np.maximum(x, -1.0), tolerance=1e-5)


def test_unknown_custom_class_is_named():
    spec = build({"x": (1, 2)}, _add_custom("NotAKernel", alpha=1.0))
    with pytest.raises(UnsupportedLayerError, match="NotAKernel"):
        run(spec, {"x": np.zeros((1, 2), np.float32)})


def test_custom_parameter_mismatch_is_an_error():
    spec = build({"x": (1, 2)}, _add_custom("HardTanh", min_value=0.0))
    with pytest.raises(Exception, match="max_value"):
        run(spec, {"x": np.zeros((1, 2), np.float32)})
