"""Model families (issue 4, item 6): export, onnxruntime against PyTorch, and the converted Core ML
model in the reference executor — the cheaper torchvision families; tools/families.py runs all."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.driver.verify import verify
from examples import zoo

pytestmark = pytest.mark.slow

CHEAP = [
    "squeezenet1_1",
    "mobilenet_v3_large",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
    "deeplabv3_mobilenet_v3_large",
    "lraspp_mobilenet_v3_large",  # its size comes from x.shape: needs shape data propagation
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    return lambda name: (
        zoo.save(name, folder / f"{name}.pt")
        if not (folder / f"{name}.pt").exists()
        else folder / f"{name}.pt"
    )


@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
@pytest.mark.parametrize("name", CHEAP)
def test_family_matches_pytorch_everywhere(name, fmt, saved):
    path = saved(name)
    result = verify(
        path, inputs={None: zoo.MODELS[name]}, pipeline="lower-custom", tolerance=1e-4, format=fmt
    )
    assert {c.runtime for c in result.comparisons} == {"onnx_before", "onnx_after", "coreml_reference"}
    assert result.passed, [(c.output, c.runtime, c.max_abs) for c in result.comparisons]
    assert f"Core ML format: {fmt}" in "\n".join(result.notes)
    assert not [r for r in result.report.rows if r.status == "custom"]  # no custom layer in either format
    coreml, reference = result.outputs["coreml_reference"], result.outputs["pytorch"]
    for name_, want in reference.items():  # the bar: 1e-3 x max |output|
        assert np.abs(coreml[name_] - want).max() <= 1e-3 * np.abs(want).max(), name_
    reference = result.outputs["pytorch"]
    if name in zoo.SEGMENTATION:
        assert list(reference) == ["out"]  # the dict output, flattened by its key
    assert all(np.abs(v).max() > 1e-3 for v in reference.values())  # not a trivially zero output
