"""A whole torchvision network: TorchScript -> bridgec IR -> lower-custom passes -> ML Program, run
by the reference executor against torch itself (random weights; outputs of order 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridgec.backends.coreml.mlprogram import build_mlprogram, mil_op_counts
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import run_model
from tests.helpers import assert_matches


@pytest.mark.slow
def test_squeezenet_end_to_end(tmp_path: Path):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from bridgec import frontends
    from tests.helpers import run_pipeline

    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(weights=None).eval()
    x = torch.randn(1, 3, 96, 96)
    path = tmp_path / "squeezenet.pt"
    with torch.no_grad():
        torch.jit.trace(model, x).save(str(path))
        want = model(x).numpy()
    graph = frontends.load(path, {"x": (1, 3, 96, 96)})
    _, lowered, _ = run_pipeline(graph, "lower-custom", "iOS16", format="mlprogram")
    mlmodel = build_mlprogram(lowered, "iOS16")
    counts = mil_op_counts(mlmodel)
    assert counts["conv"] == 26 and counts["relu"] == 26 and counts["max_pool"] == 3
    got = run_model(mlmodel, {"x": x.numpy()})
    (output,) = got.values()
    scale = float(np.abs(want).max())
    assert scale > 1e-2  # a comparison at a meaningful magnitude
    assert_matches(output, want)
