"""mobilenet_v2 converted by coremltools' torch frontend: the executor agrees with torch.

Its speed against onnxruntime is a benchmark, not a test (a timed assertion on two shared cores
flakes): ``python tools/bench_executor.py``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bridgec.backends.coreml.executor import run
from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct
from tests.helpers import assert_matches

pytestmark = pytest.mark.slow


def test_mobilenet_v2_from_coremltools_matches_torch(tmp_path):
    from examples import zoo

    module = zoo.build("mobilenet_v2")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ct.convert(
            torch.jit.trace(module, x),
            convert_to="mlprogram",
            inputs=[ct.TensorType(name="x", shape=x.shape)],
            minimum_deployment_target=ct.target.iOS15,
            compute_precision=ct.precision.FLOAT32,
        )
    path = tmp_path / "mobilenet_v2.mlpackage"
    model.save(str(path))
    feeds = {"x": x.numpy()}
    with torch.no_grad():
        want = module(x).numpy()
    (got,) = run(path, feeds).values()
    assert_matches(got, want)
    assert np.abs(want).max() > 0.05  # not a trivially small output
