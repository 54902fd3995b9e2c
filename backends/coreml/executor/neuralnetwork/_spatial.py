"""Padding and output-size rules shared by convolution and pooling (NeuralNetwork.proto
``ValidPadding`` / ``SamePadding`` / ``ValidCompletePadding``)."""

from __future__ import annotations

from typing import Any

import numpy as np

Pads = tuple[int, int, int, int]  # top, bottom, left, right


def valid_pads(valid: Any) -> Pads:
    """ValidPadding: "topPaddingAmount == Height startEdgeSize == borderAmounts[0].startEdgeSize" ...;
    "By default, the values of paddingAmounts are set to 0"."""
    amounts = list(valid.paddingAmounts.borderAmounts)
    if not amounts:
        return 0, 0, 0, 0
    if len(amounts) != 2:
        raise ValueError(f"valid.paddingAmounts must have 2 entries [H, W], got {len(amounts)}")
    h, w = amounts
    return int(h.startEdgeSize), int(h.endEdgeSize), int(w.startEdgeSize), int(w.endEdgeSize)


def same_pads(same: Any, in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> Pads:
    """SamePadding: "H_out = int_division_round_up(H_in,stride[0])" with "totalPaddingHeight =
    max(0,(H_out-1) * stride[0] + KernelSize[0] - Hin)"; BOTTOM_RIGHT_HEAVY: "topPaddingAmount =
    floor(totalPaddingHeight / 2)", TOP_LEFT_HEAVY: "bottomPaddingAmount = floor(totalPaddingHeight
    / 2)". ``kernel`` is the effective (dilated) kernel for a convolution."""
    top_left_heavy = same.asymmetryMode == 1  # TOP_LEFT_HEAVY
    pads: list[int] = []
    for n, k, s in zip(in_hw, kernel, stride, strict=True):
        out = -(-n // s)
        total = max(0, (out - 1) * s + k - n)
        light = total // 2
        pads += [total - light, light] if top_left_heavy else [light, total - light]
    return pads[0], pads[1], pads[2], pads[3]


def windowed_size(n: int, pad_total: int, k: int, s: int) -> int:
    """ValidPadding: "H_out = int_division_round_down((H_in + topPaddingAmount + bottomPaddingAmount
    - KernelSize[0]),stride[0]) + 1"; a kernel that does not fit has no output in the proto."""
    out = (n + pad_total - k) // s + 1
    if out < 1:
        raise ValueError(f"kernel {k} does not fit in input {n} with padding {pad_total}")
    return out


def pad_spatial(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of a [B, C, H, W] array (no copy when there is nothing to pad)."""
    pt, pb, pl, pr = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode="constant", constant_values=value)


def padding_name(p: Any, enum: str) -> str:
    """The name of a 3-D layer's ``paddingType`` (its enum ``enum``): CUSTOM, VALID or SAME."""
    return type(p).DESCRIPTOR.enum_types_by_name[enum].values_by_number[p.paddingType].name


def padding_3d(p: Any, enum: str, kind: str) -> list[tuple[int, int]]:
    """(begin, end) zeros per spatial axis (D, H, W) of a Convolution3D or Pooling3D layer whose
    padding is CUSTOM or VALID; both messages: "CUSTOM padding will add the custom padding values
    ... to their respective dimensions, e.g., customPaddingFront number of zeros will be added to one
    side of the input's depth dimension and customPaddingBack number of zeros ... to the other side"
    (Top/Bottom: height, Left/Right: width), "VALID padding adds no padding to any dimension"."""
    name = padding_name(p, enum)
    if name == "VALID":
        return [(0, 0)] * 3
    if name != "CUSTOM":
        raise ValueError(f"{kind}: padding type {name} is not CUSTOM or VALID")
    amounts = (
        p.customPaddingFront,
        p.customPaddingBack,
        p.customPaddingTop,
        p.customPaddingBottom,
        p.customPaddingLeft,
        p.customPaddingRight,
    )
    if any(int(v) < 0 for v in amounts):
        raise ValueError(f"{kind}: negative custom padding {tuple(amounts)}")
    return [
        (int(amounts[0]), int(amounts[1])),
        (int(amounts[2]), int(amounts[3])),
        (int(amounts[4]), int(amounts[5])),
    ]
