"""Compressed weights (constexpr_cast, iOS16 LUT / sparse), iOS17 quantize / dequantize, and the
iOS18 ops slice_update and scaled_dot_product_attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.optimize._utils import pack_elements_into_bits

from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_one, run_program
from tests.helpers import assert_matches

X = rand(2, 16, seed=1)


def test_constexpr_cast_fp16_weights(tmp_path):
    w16 = rand(4, 16, seed=2).astype(np.float16)

    def build(x):
        return mb.linear(x=x, weight=mb.constexpr_cast(source_val=w16, output_dtype="fp32"))

    got = run_one(build, {"x": X}, tmp_path, "constexpr_cast", target=ct.target.iOS16)
    assert_matches(got, X @ w16.astype(np.float32).T, tolerance=1e-6)


def test_lut_to_dense_ios16(tmp_path):
    lut = np.linspace(-1, 1, 4).astype(np.float32)
    index = np.random.default_rng(3).integers(0, 4, size=64).astype(np.uint8)
    packed = pack_elements_into_bits(index, 2)  # coremltools' own packing is the oracle

    def build(x):
        w = mb.constexpr_lut_to_dense(lut=lut, indices=packed, shape=np.array([4, 16], np.uint32))
        return mb.linear(x=x, weight=w)

    got = run_one(build, {"x": X}, tmp_path, "constexpr_lut_to_dense", target=ct.target.iOS16)
    assert_matches(got, X @ lut[index].reshape(4, 16).T, tolerance=1e-6)


def _uint(bits: int, values) -> np.ndarray:
    from coremltools.converters.mil.mil import types

    return np.asarray(values).astype(types.nptype_from_builtin(types.string_to_builtin(f"uint{bits}")))


def test_lut_to_dense_ios18_grouped(tmp_path):
    # the MIL reference's case 1: indices [6, 2] with two 2-bit LUTs along axis 0 (lut [2, 1, 4, 1])
    index = np.array([2, 3, 3, 0, 1, 0, 3, 0, 2, 1, 0, 3]).reshape(6, 2)
    lut = np.array([1.0, 5.0, 9.0, 13.0, 2.0, 10.0, 18.0, 26.0], np.float32).reshape(2, 1, 4, 1)
    x = rand(3, 2, seed=9)

    def build(x):
        return mb.linear(x=x, weight=mb.constexpr_lut_to_dense(indices=_uint(2, index), lut=lut))

    got = run_one(build, {"x": x}, tmp_path, "constexpr_lut_to_dense", target=ct.target.iOS18)
    want = np.array([[9, 13], [13, 1], [5, 1], [26, 2], [18, 10], [2, 26]], np.float32)
    assert_matches(got, x @ want.T, tolerance=1e-6)


@pytest.mark.parametrize("vector_axis", [1, 2])
def test_lut_to_dense_ios18_vector(tmp_path, vector_axis):
    # the MIL reference's case 2: 1-bit indices [2, 2, 2], centroids a, b of 3 values each
    index = np.array([[[0, 0], [1, 0]], [[1, 1], [0, 0]]])
    a, b = np.float32([1, 2, 3]), np.float32([10, 20, 30])
    lut = np.stack([a, b]).reshape(1, 1, 1, 2, 3)
    shape = [2, 2, 2]
    shape[vector_axis] *= 3

    def build(x):
        w = mb.constexpr_lut_to_dense(indices=_uint(1, index), lut=lut, vector_axis=np.int32(vector_axis))
        return mb.add(x=x, y=w)

    zeros = np.zeros(shape, np.float32)
    got = run_one(build, {"x": zeros}, tmp_path, "constexpr_lut_to_dense", target=ct.target.iOS18)
    # each index stands for its centroid's 3 values, laid consecutively along vector_axis
    want = np.moveaxis(np.stack([a, b])[index], -1, vector_axis + 1).reshape(shape)
    assert_matches(got, want, tolerance=0)
    if vector_axis == 1:
        np.testing.assert_array_equal(got[0, :, 0], [1, 2, 3, 10, 20, 30])  # the reference's case 2.1
    else:
        np.testing.assert_array_equal(got[0, 1], [10, 20, 30, 1, 2, 3])  # case 2.2


def test_sparse_to_dense_ios16(tmp_path):
    dense = rand(4, 16, seed=4) * (np.random.default_rng(5).random((4, 16)) > 0.6)
    mask = np.packbits((dense != 0).reshape(-1).astype(np.uint8), bitorder="little")

    def build(x):
        w = mb.constexpr_sparse_to_dense(
            nonzero_data=dense[dense != 0], mask=mask, shape=np.array([4, 16], np.uint32)
        )
        return mb.linear(x=x, weight=w)

    got = run_one(build, {"x": X}, tmp_path, "constexpr_sparse_to_dense", target=ct.target.iOS16)
    assert_matches(got, X @ dense.T, tolerance=1e-6)


def test_quantize_dequantize_round_trip(tmp_path):
    scale, zero = np.float32(0.05), np.uint8(128)

    def build(x):
        q = mb.quantize(input=x, scale=scale, zero_point=zero, output_dtype="uint8")
        return mb.dequantize(input=q, scale=scale, zero_point=zero)

    x = rand(3, 50, seed=6, low=-8, high=8)
    got = run_one(build, {"x": x}, tmp_path, "quantize", target=ct.target.iOS17)
    want = (np.clip(np.round(x / scale) + 128, 0, 255) - 128) * scale
    assert_matches(got, want, tolerance=1e-7)
    assert np.abs(got - x).max() > 1  # values outside the uint8 range were clipped


def test_slice_update(tmp_path):
    x, u = rand(3, 4, 5, seed=7), rand(2, 5, seed=8)

    def build(x, u):
        return mb.slice_update(
            x=x, update=u, begin=[1, 0, 0], end=[2, 4, 5], stride=[1, 2, 1], squeeze_mask=[True, False, False]
        )

    want = x.copy()
    want[1, 0:4:2] = u
    assert_matches(
        run_one(build, {"x": x, "u": u}, tmp_path, "slice_update", target=ct.target.iOS18),
        want,
        tolerance=1e-6,
    )


def test_scaled_dot_product_attention(tmp_path):
    q, k, v = rand(2, 3, 4, 8, seed=9), rand(2, 3, 6, 8, seed=10), rand(2, 3, 6, 5, seed=11)
    mask = np.tril(np.ones((4, 6), bool), 2)

    def build(q, k, v):
        return mb.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=mask)

    got = list(
        run_program(
            build, {"q": q, "k": k, "v": v}, tmp_path, "scaled_dot_product_attention", target=ct.target.iOS18
        ).values()
    )[0]
    t = [torch.from_numpy(a) for a in (q, k, v)]
    assert_matches(got, F.scaled_dot_product_attention(*t, attn_mask=torch.from_numpy(mask)), tolerance=1e-6)
