"""Layout ops: reshape, expand_dims, squeeze, transpose, slicing, depth/space moves, against numpy/torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_one
from tests.helpers import assert_matches

X = rand(2, 3, 4, 6, seed=1)


def test_reshape_with_inferred_dim(tmp_path):
    assert_matches(
        run_one(lambda x: mb.reshape(x=x, shape=[6, -1]), {"x": X}, tmp_path, "reshape"),
        X.reshape(6, -1),
        tolerance=1e-6,
    )


def test_expand_dims_then_squeeze(tmp_path):
    def build(x):
        e = mb.expand_dims(x=x, axes=[0, -1])
        return mb.add(x=e, y=1.0), mb.squeeze(x=mb.add(x=e, y=2.0), axes=[0, -1])

    from tests.backends.coreml.executor.mlprogram._mlp_helpers import run_program

    x = X[0]
    got = list(run_program(build, {"x": x}, tmp_path, "squeeze").values())
    assert_matches(got[0], x[None, ..., None] + 1, tolerance=1e-6)
    assert_matches(got[1], x + 2, tolerance=1e-6)


def test_transpose(tmp_path):
    assert_matches(
        run_one(lambda x: mb.transpose(x=x, perm=[2, 0, 3, 1]), {"x": X}, tmp_path, "transpose"),
        X.transpose(2, 0, 3, 1),
        tolerance=1e-6,
    )


def test_slice_by_index_masks_strides_and_squeeze(tmp_path):
    def build(x):
        return mb.slice_by_index(
            x=x,
            begin=[1, 0, 3, 5],
            end=[2, 3, 0, 0],
            stride=[1, 2, -1, -2],
            begin_mask=[False, True, False, False],
            end_mask=[False, False, True, True],
            squeeze_mask=[True, False, False, False],
        )

    assert_matches(
        run_one(build, {"x": X}, tmp_path, "slice_by_index"), X[1, ::2, 3::-1, 5::-2], tolerance=1e-6
    )


def test_slice_by_size(tmp_path):
    assert_matches(
        run_one(
            lambda x: mb.slice_by_size(x=x, begin=[0, 1, 1, 2], size=[2, -1, 2, 3]),
            {"x": X},
            tmp_path,
            "slice_by_size",
        ),
        X[:, 1:, 1:3, 2:5],
        tolerance=1e-6,
    )


def test_reverse(tmp_path):
    assert_matches(
        run_one(lambda x: mb.reverse(x=x, axes=[1, -1]), {"x": X}, tmp_path, "reverse"),
        X[:, ::-1, :, ::-1],
        tolerance=1e-6,
    )


def test_depth_to_space_is_dcr_and_space_to_depth_inverts_it(tmp_path):
    x = rand(1, 8, 2, 3, seed=2)
    got = run_one(lambda x: mb.depth_to_space(x=x, block_size=2), {"x": x}, tmp_path, "depth_to_space")
    want = x.reshape(1, 2, 2, 2, 2, 3).transpose(0, 3, 4, 1, 5, 2).reshape(1, 2, 4, 6)  # ONNX DCR
    assert_matches(got, want, tolerance=1e-6)
    back = run_one(lambda x: mb.space_to_depth(x=x, block_size=2), {"x": want}, tmp_path, "space_to_depth")
    assert_matches(back, x, tolerance=1e-6)


@pytest.mark.parametrize("op", ["pixel_shuffle", "pixel_unshuffle"])
def test_pixel_shuffle_matches_torch(op, tmp_path):
    if op == "pixel_shuffle":
        x = rand(1, 8, 2, 3, seed=3)
        got = run_one(lambda x: mb.pixel_shuffle(x=x, upscale_factor=2), {"x": x}, tmp_path, op)
        assert_matches(got, F.pixel_shuffle(torch.from_numpy(x), 2), tolerance=1e-6)
    else:
        x = rand(1, 2, 4, 6, seed=3)
        got = run_one(
            lambda x: mb.pixel_unshuffle(x=x, downscale_factor=np.uint32(2)),
            {"x": x},
            tmp_path,
            op,
            target=ct.target.iOS16,
        )
        assert_matches(got, F.pixel_unshuffle(torch.from_numpy(x), 2), tolerance=1e-6)


def test_flatten2d(tmp_path):
    assert_matches(
        run_one(lambda x: mb.flatten2d(x=x, axis=2), {"x": X}, tmp_path, "flatten2d"),
        X.reshape(6, 24),
        tolerance=1e-6,
    )


def test_depth_to_space_follows_tensorflows_formula(tmp_path):
    # the MIL reference gives depth_to_space no channel order; TensorFlow's (DCR) is assumed:
    # out[n, c, h * b + i, w * b + j] = x[n, (i * b + j) * C_out + c, h, w], written out here by loops
    x = rand(2, 18, 2, 3, seed=4)
    b, c_out = 3, 2
    want = np.zeros((2, c_out, 6, 9), np.float32)
    for n, c, h, w, i, j in np.ndindex(2, c_out, 2, 3, b, b):
        want[n, c, h * b + i, w * b + j] = x[n, (i * b + j) * c_out + c, h, w]
    assert_matches(
        run_one(lambda x: mb.depth_to_space(x=x, block_size=3), {"x": x}, tmp_path, "depth_to_space"),
        want,
        tolerance=1e-6,
    )
    back = run_one(lambda x: mb.space_to_depth(x=x, block_size=3), {"x": want}, tmp_path, "space_to_depth")
    assert_matches(back, x, tolerance=1e-6)


def test_squeeze_ignores_non_single_axes():
    # iOS15 reference: "it ignores non-single dimensions instead of erroring out" (PyTorch's rule)
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.shape import squeeze

    x = rand(1, 3, 1, 4)
    y = squeeze(Op("squeeze", "s", {"x": x, "axes": np.array([0, 1, -2], np.int32)}))
    assert y.shape == (3, 4)


def test_reshape_zero_against_another_rank_is_an_error():
    # a 0 copies x's axis in both opsets only when the shape has rank(x) entries (iOS15 refuses the
    # rest, iOS17 aligns them to the right): the executor cannot tell the opsets apart
    from bridgec.backends.coreml.executor.errors import LayerError
    from bridgec.backends.coreml.executor.mlprogram._op import Op
    from bridgec.backends.coreml.executor.mlprogram.shape import reshape

    x = rand(2, 3, 4)
    same = reshape(Op("reshape", "r", {"x": x, "shape": np.array([0, -1, 2], np.int32)}))
    assert same.shape == (2, 6, 2)
    with pytest.raises(LayerError, match="read it differently"):
        reshape(Op("reshape", "r", {"x": x, "shape": np.array([0, -1], np.int32)}))
