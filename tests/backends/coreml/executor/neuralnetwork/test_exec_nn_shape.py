"""Data-movement layers: concat, constants, reshapes, transposes, slicing, splitting."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


@pytest.mark.parametrize("axis", [0, 1, 3, -1, -3])
def test_concat_nd(axis):
    a, b = rand(2, 3, 4, 5, seed=1), rand(2, 3, 4, 5, seed=2)
    y = run_one({"a": a, "b": b}, lambda bld: bld.add_concat_nd("c", ["a", "b"], "y", axis=axis))
    assert_matches(y, np.concatenate([a, b], axis=axis), tolerance=1e-5)


def test_concat_nd_interleave():
    a, b = rand(2, 3, seed=1), rand(2, 3, seed=2)
    y = run_one(
        {"a": a, "b": b}, lambda bld: bld.add_concat_nd("c", ["a", "b"], "y", axis=0, interleave=True)
    )
    assert_matches(y, np.stack([a, b], axis=1).reshape(4, 3), tolerance=1e-5)


def test_old_concat_is_channel_axis():
    a, b = rand(1, 3, 4, 4, seed=3), rand(1, 5, 4, 4, seed=4)
    y = run_one({"a": a, "b": b}, lambda bld: bld.add_elementwise("c", ["a", "b"], "y", "CONCAT"))
    assert_matches(y, np.concatenate([a, b], axis=1), tolerance=1e-5)


def test_load_constant_nd_feeds_a_layer():
    const = rand(3, 1, 1, seed=5)
    x = rand(1, 3, 2, 2, seed=6)

    def add(bld):
        bld.add_load_constant_nd("k", "k_out", constant_value=const, shape=const.shape)
        bld.add_add_broadcastable("add", ["x", "k_out"], "y")

    assert_matches(run_one({"x": x}, add), x + const, tolerance=1e-5)


# FlattenTo2DLayerParams' own examples: a negative axis counts from the rank, axis = rank gives (N, 1)
FLATTEN_EXAMPLES = [
    ((3,), -1, (1, 3)),
    ((3,), 1, (3, 1)),
    ((4, 3), -1, (4, 3)),
    ((5, 2), 0, (1, 10)),
    ((5, 5, 3), -2, (5, 15)),
    ((2, 3, 2), -1, (6, 2)),
    ((2, 3, 4, 5), 2, (6, 20)),
    ((2, 3, 4, 5), 4, (120, 1)),
    ((2, 3, 4, 5), -4, (1, 120)),
]


@pytest.mark.parametrize(("shape", "axis", "out"), FLATTEN_EXAMPLES)
def test_flatten_to_2d_proto_examples(shape, axis, out):
    x = rand(*shape, seed=7)
    y = run_one({"x": x}, lambda b: b.add_flatten_to_2d("f", "x", "y", axis=axis))
    assert_matches(y, x.reshape(out), tolerance=1e-5)  # row-major: the values keep their order


def test_reshape_static_and_transpose():
    x = rand(1, 6, 4, seed=8)

    def add(b):
        b.add_reshape_static("r", "x", "r_out", output_shape=(2, 3, 4))
        b.add_transpose("t", axes=(2, 0, 1), input_name="r_out", output_name="y")

    assert_matches(run_one({"x": x}, add), x.reshape(2, 3, 4).transpose(2, 0, 1), tolerance=1e-5)


def test_squeeze_and_expand_dims():
    x = rand(1, 3, 1, 4, seed=9)

    def add(b):
        b.add_squeeze("s", "x", "s_out", axes=[0, -2])
        b.add_expand_dims("e", "s_out", "y", axes=[-1, 0])

    assert_matches(run_one({"x": x}, add), x.reshape(1, 3, 4, 1), tolerance=1e-5)


def test_slice_static():
    x = rand(4, 5, 6, seed=10)

    def add(b):
        b.add_slice_static(
            "s",
            "x",
            "y",
            begin_ids=[1, 0, -4],
            end_ids=[3, 0, 6],
            strides=[1, 2, 2],
            begin_masks=[False, True, False],
            end_masks=[False, True, False],
        )

    assert_matches(run_one({"x": x}, add), x[1:3, ::2, -4:6:2], tolerance=1e-5)


def test_split_nd():
    x = rand(2, 7, 3, seed=11)
    out = run_one(
        {"x": x},
        lambda b: b.add_split_nd("s", "x", ["y0", "y1"], axis=1, split_sizes=[3, 4]),
        outputs=("y0", "y1"),
    )
    assert_matches(out["y0"], x[:, :3], tolerance=1e-5)
    assert_matches(out["y1"], x[:, 3:], tolerance=1e-5)


@pytest.mark.parametrize("axis, indices", [(0, [1, 0, 1]), (-1, [[3, 0], [2, 2]]), (1, [-1])])
def test_gather_matches_torch(axis, indices):
    import torch

    x = rand(2, 3, 4, seed=5)
    idx = np.asarray(indices, np.float32)  # Core ML blobs are float; the layer casts indices

    def layers(b):
        b.add_load_constant_nd("i", "i", idx, idx.shape)
        b.add_gather("g", ["x", "i"], "y", axis=axis)

    y = run_one({"x": x}, layers)
    want = torch.index_select(torch.from_numpy(x), axis, torch.tensor(np.ravel(indices)) % x.shape[axis])
    assert_matches(
        y, want.reshape(x.shape[: axis % 3] + np.shape(indices) + x.shape[axis % 3 + 1 :]), tolerance=1e-5
    )


def test_gather_out_of_range_index_is_an_error():
    from bridgec.backends.coreml.executor.errors import LayerError

    def layers(b):
        b.add_load_constant_nd("i", "i", np.array([5.0], np.float32), (1,))
        b.add_gather("g", ["x", "i"], "y", axis=0)

    with pytest.raises(LayerError, match="out of range"):
        run_one({"x": rand(2, 3)}, layers)


def test_slice_static_end_mask_with_negative_stride_runs_through_index_zero():
    # a masked end "is assumed to be -1": one before index 0 for a negative stride
    x = rand(4, 5, seed=12)

    def add(b):
        b.add_slice_static("s", "x", "y", [3, 4], [0, 0], [-1, -2], [False] * 2, [True] * 2)

    assert_matches(
        run_one({"x": x}, add), x[::-1, ::-2], tolerance=1e-5
    )  # numpy's own reading, independent of the layer


def test_slice_static_begin_mask_with_negative_stride_is_an_error():
    x = rand(4, 5, seed=12)

    def add(b):
        b.add_slice_static("s", "x", "y", [3, 0], [0, 5], [-1, 1], [True, False], [False, False])

    with pytest.raises(Exception, match="negative stride"):
        run_one({"x": x}, add)


def test_concat_nd_and_split_nd_need_two_blobs():
    # ConcatNDLayerParams "Requires at least 2 input"; SplitNDLayerParams "produces at least 2 outputs"
    x = rand(2, 3, seed=13)
    with pytest.raises(Exception, match="at least 2"):
        run_one({"x": x}, lambda b: b.add_concat_nd("c", ["x"], "y", axis=0))
    with pytest.raises(Exception, match="at least 2"):
        run_one({"x": x}, lambda b: b.add_split_nd("s", "x", ["y"], axis=0, num_splits=1))


def test_copy_layer():
    x = rand(2, 3, seed=14)
    assert_matches(run_one({"x": x}, lambda b: b.add_copy("c", "x", "y")), x, tolerance=1e-5)


def test_padding_reflection_and_replication_match_the_proto_example():
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 3, 4)  # the proto's [1, 3, 4] input
    want = {
        "reflection": [[11, 10, 9, 10, 11, 12], [7, 6, 5, 6, 7, 8], [3, 2, 1, 2, 3, 4]]
        + [[7, 6, 5, 6, 7, 8], [11, 10, 9, 10, 11, 12]],
        "replication": [[1, 1, 1, 2, 3, 4]] * 3 + [[5, 5, 5, 6, 7, 8], [9, 9, 9, 10, 11, 12]],
    }
    for kind, rows in want.items():
        y = run_one(
            {"x": x},
            lambda b, kind=kind: b.add_padding(
                "p", 2, 0, 2, 0, input_name="x", output_name="y", padding_type=kind
            ),
        )
        assert_matches(y, np.asarray(rows, np.float32)[None], tolerance=1e-5)


def test_reflection_padding_past_the_border_is_an_error():
    x = rand(1, 3, 4, seed=15)
    with pytest.raises(Exception, match="reflection"):
        run_one(
            {"x": x},
            lambda b: b.add_padding(
                "p", 0, 0, 3, 0, input_name="x", output_name="y", padding_type="reflection"
            ),
        )


def test_replication_padding_wider_than_the_axis_repeats_the_border():
    # the proto does not limit a replication: the border value is assumed repeated however wide,
    # written out here by index clamping (the emitter's side: test_layout_emitters.py, vs onnxruntime)
    x = rand(1, 2, 3, seed=16)
    y = run_one(
        {"x": x},
        lambda b: b.add_padding("p", 4, 1, 3, 5, input_name="x", output_name="y", padding_type="replication"),
    )
    rows = np.clip(np.arange(-3, 2 + 5), 0, 1)
    cols = np.clip(np.arange(-4, 3 + 1), 0, 2)
    assert_matches(y, x[:, rows][:, :, cols], tolerance=1e-5)
