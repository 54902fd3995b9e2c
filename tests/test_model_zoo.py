"""Model families end to end: PyTorch vs the converted Core ML model (reference executor)."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.driver.verify import verify
from examples import zoo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mobilenet_v2(tmp_path_factory):
    return zoo.save("mobilenet_v2", tmp_path_factory.mktemp("zoo") / "mobilenet_v2.pt")


@pytest.mark.parametrize("mode", ["lower-custom", "custom"])
def test_mobilenet_v2(mobilenet_v2, mode):
    result = verify(mobilenet_v2, inputs={"x": (1, 3, 224, 224)}, pipeline=mode, tolerance=1e-4)
    assert result.passed, [(c.runtime, c.max_abs) for c in result.comparisons]
    logits = result.outputs["coreml_reference"]["output"]
    assert logits.shape == (1, 1000) and np.abs(logits).max() > 0.1  # not a trivially small output
