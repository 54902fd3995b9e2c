"""F.interpolate's corners from a TorchScript file to Core ML, both formats: PyTorch vs onnxruntime
(before and after the passes) vs the emitted model in the reference executor (bridgec.driver.verify).

Every configuration the exporter writes as a Resize must verify: natively where a Core ML layer
samples PyTorch's coordinates, otherwise through lower::resize (asserted per format below, so an
emitter that starts taking or refusing a configuration shows up here). The exporter writes
nearest-exact and area (adaptive pooling by a non-divisor) as gather arithmetic or not at all:
those must verify or be refused in one line, never convert wrong.

Input 2x3x5x6: batch > 1, non-square, and 5 * 1.5 = 7.5 (PyTorch's 1/scale grid is not in/out).
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bridgec.core.errors import BridgecError
from bridgec.driver.verify import verify

pytestmark = pytest.mark.slow

SHAPE = (2, 3, 5, 6)
FORMATS = ("neuralnetwork", "mlprogram")
N, L = "native", "lowered"

# name: (F.interpolate keywords, (NeuralNetwork, ML Program) outcome)
RESIZES = {
    "nearest_x2": (dict(mode="nearest", scale_factor=2), (N, N)),
    "nearest_x1.5": (dict(mode="nearest", scale_factor=1.5), (L, L)),
    "nearest_x0.5_down": (dict(mode="nearest", scale_factor=0.5), (L, L)),
    "nearest_x(1.5,2.5)": (dict(mode="nearest", scale_factor=(1.5, 2.5)), (L, L)),
    "nearest_size7x9": (dict(mode="nearest", size=(7, 9)), (L, L)),
    "nearest_size10x12": (dict(mode="nearest", size=(10, 12)), (N, N)),
    "nearest_x1.5_recompute": (dict(mode="nearest", scale_factor=1.5, recompute_scale_factor=True), (L, L)),
    "bilinear_x2": (dict(mode="bilinear", scale_factor=2), (N, N)),
    "bilinear_x1.5": (dict(mode="bilinear", scale_factor=1.5), (L, L)),  # the case
    "bilinear_x0.5_down": (dict(mode="bilinear", scale_factor=0.5), (L, L)),
    "bilinear_x(1.5,2.5)": (dict(mode="bilinear", scale_factor=(1.5, 2.5)), (L, L)),
    "bilinear_size7x9": (dict(mode="bilinear", size=(7, 9)), (L, N)),
    "bilinear_size3x4_down": (dict(mode="bilinear", size=(3, 4)), (L, N)),
    "bilinear_x1.5_recompute": (dict(mode="bilinear", scale_factor=1.5, recompute_scale_factor=True), (L, N)),
    "bilinear_align_x2": (dict(mode="bilinear", scale_factor=2, align_corners=True), (N, N)),
    "bilinear_align_x1.5": (dict(mode="bilinear", scale_factor=1.5, align_corners=True), (N, N)),
    "bilinear_align_x0.5_down": (dict(mode="bilinear", scale_factor=0.5, align_corners=True), (N, N)),
    "bilinear_align_size7x9": (dict(mode="bilinear", size=(7, 9), align_corners=True), (N, N)),
    "bilinear_antialias_size3x4_down": (dict(mode="bilinear", size=(3, 4), antialias=True), (L, L)),
    "bilinear_antialias_x2": (dict(mode="bilinear", scale_factor=2, antialias=True), (L, L)),
    "bicubic_x2": (dict(mode="bicubic", scale_factor=2), (L, L)),
    "bicubic_x1.5": (dict(mode="bicubic", scale_factor=1.5), (L, L)),
    "bicubic_x0.5_down": (dict(mode="bicubic", scale_factor=0.5), (L, L)),
    "bicubic_size7x9": (dict(mode="bicubic", size=(7, 9)), (L, L)),
    "bicubic_align_x1.5": (dict(mode="bicubic", scale_factor=1.5, align_corners=True), (L, L)),
    "bicubic_align_size3x4_down": (dict(mode="bicubic", size=(3, 4), align_corners=True), (L, L)),
    "bicubic_antialias_size3x4_down": (dict(mode="bicubic", size=(3, 4), antialias=True), (L, L)),
}
# not exported as a Resize: area by divisors is an AveragePool; the rest gather arithmetic or nothing
OTHERS = {
    "area_size5x3_divisors": dict(mode="area", size=(5, 3)),
    "area_size3x4": dict(mode="area", size=(3, 4)),
    "nearest_exact_x1.5": dict(mode="nearest-exact", scale_factor=1.5),
    "nearest_exact_size3x4": dict(mode="nearest-exact", size=(3, 4)),
}


class Interpolate(nn.Module):
    def __init__(self, keywords: dict) -> None:
        super().__init__()
        self.keywords = keywords

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, **self.keywords)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resize_corners")
    paths = {}

    def save(name: str, keywords: dict):
        if name not in paths:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(Interpolate(keywords).eval(), torch.randn(*SHAPE))
            paths[name] = folder / f"{name}.pt"
            torch.jit.save(traced, str(paths[name]))
        return paths[name]

    return save


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("name", RESIZES)
def test_resize_verifies(saved, name, format):
    keywords, outcomes = RESIZES[name]
    result = verify(saved(name, keywords), inputs={None: SHAPE}, format=format, seed=1)
    failed = [(c.runtime, c.max_abs, c.note) for c in result.comparisons if not c.passed]
    assert result.passed, failed
    lowered = [(r.pass_id, r.rule) for r in result.context.rewrites if r.source_op == "Resize"]
    (row,) = [r for r in result.report.rows if r.op == "Resize"]
    expected = outcomes[FORMATS.index(format)]
    assert row.status == expected, row.how
    if expected == L:  # the emitter refuses it; the lowering makes it right
        assert lowered == [("lower::resize", "resize_to_matmul")]
    else:
        assert not lowered


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("name", OTHERS)
def test_other_interpolations_verify_or_refuse_in_one_line(saved, name, format):
    try:
        result = verify(saved(name, OTHERS[name]), inputs={None: SHAPE}, format=format, seed=1)
    except BridgecError as exc:
        message = str(exc)
        assert "\n" not in message.strip() and message
        return
    assert result.passed, [(c.runtime, c.max_abs) for c in result.comparisons if not c.passed]
