"""upsample_* / resize_* against torch.nn.functional.interpolate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _mlp_helpers import close, ct, mb, rand, run_one

X = rand(1, 2, 4, 5, seed=1)
T = torch.from_numpy(X)


def test_upsample_nearest(tmp_path):
    got = run_one(
        lambda x: mb.upsample_nearest_neighbor(x=x, scale_factor_height=2, scale_factor_width=3),
        {"x": X},
        tmp_path,
        "upsample_nearest_neighbor",
    )
    close(got, F.interpolate(T, scale_factor=(2, 3), mode="nearest"))


def test_resize_nearest(tmp_path):
    got = run_one(
        lambda x: mb.resize_nearest_neighbor(x=x, target_size_height=7, target_size_width=3),
        {"x": X},
        tmp_path,
        "resize_nearest_neighbor",
    )
    close(got, F.interpolate(T, size=(7, 3), mode="nearest"))


@pytest.mark.parametrize("align", [True, False])
def test_upsample_bilinear(align, tmp_path):
    got = run_one(
        lambda x: mb.upsample_bilinear(
            x=x, scale_factor_height=2.0, scale_factor_width=1.5, align_corners=align
        ),
        {"x": X},
        tmp_path,
        "upsample_bilinear",
    )
    want = F.interpolate(T, size=(8, 7), mode="bilinear", align_corners=align)
    close(got, want, atol=1e-5)


def test_upsample_bilinear_asymmetric_ios16(tmp_path):
    got = run_one(
        lambda x: mb.upsample_bilinear(
            x=x,
            scale_factor_height=2.0,
            scale_factor_width=2.0,
            align_corners=False,
            half_pixel_centers=False,
        ),
        {"x": X},
        tmp_path,
        "upsample_bilinear",
        target=ct.target.iOS16,
    )

    # TF1 legacy grid: src = dst * in / out, clamped at the last pixel.
    def grid(n, m):
        g = np.arange(m) * n / m
        lo = np.floor(g).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        w = np.zeros((m, n))
        w[np.arange(m), lo] += 1 - (g - lo)
        w[np.arange(m), hi] += g - lo
        return w

    close(got, grid(4, 8) @ X @ grid(5, 10).T, atol=1e-5)


@pytest.mark.parametrize("mode,align", [("STRICT_ALIGN_CORNERS", True), ("UNALIGN_CORNERS", False)])
def test_resize_bilinear_modes(mode, align, tmp_path):
    got = run_one(
        lambda x: mb.resize_bilinear(x=x, target_size_height=7, target_size_width=3, sampling_mode=mode),
        {"x": X},
        tmp_path,
        "resize_bilinear",
    )
    close(got, F.interpolate(T, size=(7, 3), mode="bilinear", align_corners=align), atol=1e-5)


def test_resize_bilinear_default_grid(tmp_path):
    got = run_one(
        lambda x: mb.resize_bilinear(x=x, target_size_height=1, target_size_width=5, sampling_mode="DEFAULT"),
        {"x": X[..., :2]},
        tmp_path,
        "resize_bilinear",
    )
    # The docs' example for Xin=2, Xout=5: spacing (2 - 2/5) / 4 = 0.4 -> grid 0, .4, .8, 1(clamped), 1.
    w = np.array([[1, 0], [0.6, 0.4], [0.2, 0.8], [0, 1], [0, 1]])
    close(got, X[..., :1, :2] @ w.T, atol=1e-6)
