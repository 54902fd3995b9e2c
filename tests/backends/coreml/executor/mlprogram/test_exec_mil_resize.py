"""upsample_* / resize_* against torch.nn.functional.interpolate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_one
from tests.helpers import assert_matches

X = rand(1, 2, 4, 5, seed=1)
T = torch.from_numpy(X)


def test_upsample_nearest(tmp_path):
    got = run_one(
        lambda x: mb.upsample_nearest_neighbor(x=x, scale_factor_height=2, scale_factor_width=3),
        {"x": X},
        tmp_path,
        "upsample_nearest_neighbor",
    )
    assert_matches(got, F.interpolate(T, scale_factor=(2, 3), mode="nearest"), tolerance=1e-6)


def test_resize_nearest(tmp_path):
    got = run_one(
        lambda x: mb.resize_nearest_neighbor(x=x, target_size_height=7, target_size_width=3),
        {"x": X},
        tmp_path,
        "resize_nearest_neighbor",
    )
    assert_matches(got, F.interpolate(T, size=(7, 3), mode="nearest"), tolerance=1e-6)


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
    assert_matches(got, want, tolerance=1e-6)


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

    assert_matches(got, grid(4, 8) @ X @ grid(5, 10).T, tolerance=1e-6)


@pytest.mark.parametrize("mode,align", [("STRICT_ALIGN_CORNERS", True), ("UNALIGN_CORNERS", False)])
def test_resize_bilinear_modes(mode, align, tmp_path):
    got = run_one(
        lambda x: mb.resize_bilinear(x=x, target_size_height=7, target_size_width=3, sampling_mode=mode),
        {"x": X},
        tmp_path,
        "resize_bilinear",
    )
    assert_matches(got, F.interpolate(T, size=(7, 3), mode="bilinear", align_corners=align), tolerance=1e-6)


def test_resize_bilinear_default_grid(tmp_path):
    got = run_one(
        lambda x: mb.resize_bilinear(x=x, target_size_height=1, target_size_width=5, sampling_mode="DEFAULT"),
        {"x": X[..., :2]},
        tmp_path,
        "resize_bilinear",
    )
    # The docs' example for Xin=2, Xout=5: spacing (2 - 2/5) / 4 = 0.4 -> grid 0, .4, .8, 1(clamped), 1.
    w = np.array([[1, 0], [0.6, 0.4], [0.2, 0.8], [0, 1], [0, 1]])
    assert_matches(got, X[..., :1, :2] @ w.T, tolerance=1e-7)


# The MIL op reference's own examples (iOS15 image_resizing.py): Xin = 2 (input interval [0, 1]),
# the grid points each mode samples, to the doc's two decimals. A ramp [0, 1] along the width makes
# the output the grid itself (both rows equal, so the height's grid does not matter).
RESIZE_DOC = {
    ("UNALIGN_CORNERS", 5): [0.0, 0.1, 0.5, 0.9, 1.0],
    ("STRICT_ALIGN_CORNERS", 5): [0.0, 0.25, 0.5, 0.75, 1.0],
    ("ALIGN_CORNERS", 5): [0.0, 0.25, 0.5, 0.75, 1.0],
    ("DEFAULT", 5): [0.0, 0.4, 0.8, 1.0, 1.0],
    ("OFFSET_CORNERS", 5): [0.1, 0.3, 0.5, 0.7, 0.9],
    ("UNALIGN_CORNERS", 6): [0.0, 0.0, 0.33, 0.67, 1.0, 1.0],
    ("STRICT_ALIGN_CORNERS", 6): [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
    ("ALIGN_CORNERS", 6): [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
    ("DEFAULT", 6): [0.0, 0.33, 0.67, 1.0, 1.0, 1.0],
    ("OFFSET_CORNERS", 6): [0.08, 0.25, 0.42, 0.58, 0.75, 0.92],
}
RAMP = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32).reshape(1, 2, 2)


@pytest.mark.parametrize("mode, out", sorted(RESIZE_DOC))
def test_resize_bilinear_grids_are_the_docs(mode, out):
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.resize import resize_bilinear

    op = Op(
        "resize_bilinear",
        "r",
        {"x": RAMP, "target_size_height": 2, "target_size_width": out, "sampling_mode": mode},
    )
    got = resize_bilinear(op)
    assert_matches(got[0, 0], RESIZE_DOC[(mode, out)], tolerance=5e-3)
    np.testing.assert_array_equal(got[0, 0], got[0, 1])


# upsample_bilinear's examples: align_corners False / True at Xout = 5 (scale 2.5) and 6 (scale 3)
UPSAMPLE_DOC = {
    (False, 2.5): [0.0, 0.1, 0.5, 0.9, 1.0],
    (True, 2.5): [0.0, 0.25, 0.5, 0.75, 1.0],
    (False, 3.0): [0.0, 0.0, 0.33, 0.67, 1.0, 1.0],
    (True, 3.0): [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
}


@pytest.mark.parametrize("align, scale", sorted(UPSAMPLE_DOC))
def test_upsample_bilinear_grids_are_the_docs(align, scale):
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.resize import upsample_bilinear

    inputs = {"x": RAMP, "scale_factor_height": 1.0, "scale_factor_width": scale, "align_corners": align}
    got = upsample_bilinear(Op("upsample_bilinear", "u", inputs))  # H2 = floor(H1 * scale)
    assert_matches(got[0, 0], UPSAMPLE_DOC[(align, scale)], tolerance=5e-3)


def test_upsample_bilinear_both_align_and_half_pixel_is_not_described():
    from bridgec.backends.coreml.executor.errors import ExecutorError
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.resize import upsample_bilinear

    inputs = {"x": RAMP, "scale_factor_width": 2.0, "align_corners": True, "half_pixel_centers": True}
    with pytest.raises(ExecutorError, match="not described"):
        upsample_bilinear(Op("upsample_bilinear", "u", inputs))


def test_upsample_nearest_integer_factor_repeats_each_pixel(tmp_path):
    # the doc gives no index formula; with an integer factor each pixel must be repeated k times,
    # as numpy.repeat does (independent of the executor's floor(i * in / out))
    got = run_one(
        lambda x: mb.upsample_nearest_neighbor(x=x, scale_factor_height=3, scale_factor_width=2),
        {"x": X},
        tmp_path,
        "upsample_nearest_neighbor",
    )
    assert_matches(got, np.repeat(np.repeat(X, 3, axis=2), 2, axis=3), tolerance=1e-6)
