"""conv and conv_transpose against torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_one
from tests.helpers import assert_matches

CASES = [
    # (x shape, weight shape, kwargs for mb.conv, torch kwargs with explicit padding)
    ((1, 3, 9, 9), (4, 3, 3, 3), {"pad_type": "valid"}, {}),
    (
        (2, 4, 8, 7),
        (6, 2, 3, 2),
        {"pad_type": "custom", "pad": [1, 2, 0, 1], "groups": 2},
        {"pad": (0, 1, 1, 2)},
    ),
    ((1, 3, 10, 10), (5, 3, 3, 3), {"pad_type": "valid", "strides": [2, 3], "dilations": [2, 1]}, {}),
    (
        (1, 6, 8, 8),
        (6, 1, 3, 3),
        {"pad_type": "custom", "pad": [1, 1, 1, 1], "groups": 6},
        {"pad": (1, 1, 1, 1)},
    ),
    ((1, 4, 11), (3, 4, 4), {"pad_type": "custom", "pad": [2, 1], "strides": [2]}, {"pad": (2, 1)}),
    ((1, 2, 5, 6, 4), (3, 2, 2, 3, 2), {"pad_type": "valid"}, {}),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv_matches_torch(case, tmp_path):
    xs, ws, kw, tkw = CASES[case]
    x, w, b = rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0], seed=3)
    got = run_one(lambda x: mb.conv(x=x, weight=w, bias=b, **kw), {"x": x}, tmp_path, "conv")
    t = F.pad(torch.from_numpy(x), tkw.get("pad", ()))
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(xs)]
    want = conv(
        t,
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride=kw.get("strides", 1),
        dilation=kw.get("dilations", 1),
        groups=kw.get("groups", 1),
    )
    assert_matches(got, want, tolerance=1e-6)


@pytest.mark.parametrize("pad_type", ["same", "same_lower"])
def test_conv_same_padding_puts_odd_pixel_after_or_before(pad_type, tmp_path):
    x, w = rand(1, 2, 8, 8, seed=4), rand(3, 2, 2, 2, seed=5)
    got = run_one(
        lambda x: mb.conv(x=x, weight=w, pad_type=pad_type),
        {"x": x},
        tmp_path,
        "conv",
        target=ct.target.iOS16,
    )
    pad = (0, 1, 0, 1) if pad_type == "same" else (1, 0, 1, 0)
    assert_matches(got, F.conv2d(F.pad(torch.from_numpy(x), pad), torch.from_numpy(w)), tolerance=1e-7)


def test_conv_same_with_stride(tmp_path):
    x, w = rand(1, 2, 9, 9, seed=4), rand(3, 2, 3, 3, seed=5)
    got = run_one(
        lambda x: mb.conv(x=x, weight=w, pad_type="same", strides=[2, 2]), {"x": x}, tmp_path, "conv"
    )
    assert_matches(
        got, F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1), tolerance=5e-7
    )


def test_conv_fp16_is_fp16_rounded_torch(tmp_path):
    x, w = rand(1, 8, 6, 6, seed=6), rand(4, 8, 3, 3, seed=7)
    got = run_one(lambda x: mb.conv(x=x, weight=w), {"x": x}, tmp_path, "conv", fp16=True)
    h = lambda a: torch.from_numpy(a.astype(np.float16).astype(np.float32))  # noqa: E731
    want = F.conv2d(h(x), h(w)).numpy().astype(np.float16).astype(np.float32)
    # elementwise, in fp16 ulps: fp32 accumulation order may flip the last fp16 bit of any element
    np.testing.assert_allclose(got, want, atol=0, rtol=1e-3)
    assert not np.allclose(got, F.conv2d(torch.from_numpy(x), torch.from_numpy(w)).numpy(), atol=1e-4)


TRANSPOSE = [
    ((1, 4, 5, 5), (4, 3, 3, 3), {"pad_type": "valid", "strides": [2, 2]}, {"stride": 2}),
    (
        (2, 4, 4, 6),
        (4, 2, 3, 2),
        {"pad_type": "custom", "pad": [1, 1, 0, 1], "strides": [2, 1], "groups": 2},
        {"stride": (2, 1), "groups": 2, "crop": (1, 1, 0, 1)},
    ),
    (
        (1, 2, 4, 4),
        (2, 3, 3, 3),
        {"pad_type": "custom", "pad": [1, 1, 1, 1], "strides": [2, 2], "output_shape": [1, 3, 8, 8]},
        {"stride": 2, "padding": 1, "output_padding": 1},
    ),
    ((1, 3, 7), (3, 2, 3), {"pad_type": "valid", "dilations": [2]}, {"dilation": 2}),
    # the MIL doc says only Dout = output_shape: past the full map we assume the bias alone, as torch's
    # output_padding without padding (what the ConvTranspose emitter relies on)
    (
        (1, 2, 4, 5),
        (2, 3, 3, 3),
        {"pad_type": "valid", "strides": [3, 2], "output_shape": [1, 3, 14, 12]},
        {"stride": (3, 2), "output_padding": (2, 1)},
    ),
]


@pytest.mark.parametrize("case", range(len(TRANSPOSE)))
def test_conv_transpose_matches_torch(case, tmp_path):
    xs, ws, kw, tkw = TRANSPOSE[case]
    x, w, b = rand(*xs, seed=8), rand(*ws, seed=9), rand(ws[1] * kw.get("groups", 1), seed=10)
    got = run_one(
        lambda x: mb.conv_transpose(x=x, weight=w, bias=b, **kw),
        {"x": x},
        tmp_path,
        "conv_transpose",
        target=ct.target.iOS16,
    )
    crop = tkw.pop("crop", None)
    fn = F.conv_transpose1d if len(xs) == 3 else F.conv_transpose2d
    want = fn(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **tkw)
    if crop:
        t, bo, le, ri = crop
        want = want[..., t : want.shape[-2] - bo, le : want.shape[-1] - ri]
    assert_matches(got, want, tolerance=1e-6)
