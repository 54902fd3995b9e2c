"""The weight.bin reader: fp32 / fp16 / int8 / uint8 / int4 blobs, cross-checked with coremltools' own
reader (libmilstoragepython), and through whole programs."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml.executor.mlprogram import BlobFile, BlobFormatError
from bridgec.backends.coreml.executor.mlprogram.program import main_block
from bridgec.backends.coreml.executor.model_io import read_mlpackage
from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_one, save_program
from tests.helpers import assert_matches


def _blob_consts(path):
    """(name, dtype code, shape, offset) of every blob-file value in the saved program."""
    spec, weights = read_mlpackage(path)
    found = []
    for op in main_block(spec)[1].operations:
        # consts hold their value in "val"; iOS16 constexpr ops hold operands as attributes too.
        for key, value in op.attributes.items():
            if value.WhichOneof("value") == "blobFileValue":
                tt = value.type.tensorType
                shape = tuple(d.constant.size for d in tt.dimensions)
                found.append((f"{op.outputs[0].name}.{key}", tt.dataType, shape, value.blobFileValue.offset))
    return found, weights + "/weight.bin"


def test_writer_layout_matches_coremltools_reader(tmp_path):
    from coremltools.libmilstoragepython import _BlobStorageReader

    w32, w8 = rand(16, 8, seed=1), np.arange(-60, 60, dtype=np.int8).reshape(12, 10)

    def build(x):
        q = mb.constexpr_affine_dequantize(
            quantized_data=w8, zero_point=np.int8(1), scale=np.float32(0.25), axis=0
        )
        return mb.linear(x=x, weight=w32), q

    path = save_program(build, {"x": (2, 8)}, tmp_path, target=ct.target.iOS16, fp16=True)
    consts, weight_file = _blob_consts(path)
    reader, ours = _BlobStorageReader(weight_file), BlobFile(weight_file)
    read = {10: (reader.read_fp16_data, np.float16), 21: (reader.read_int8_data, np.int8)}
    kinds = set()
    for name, code, shape, offset in consts:
        if code not in read:
            continue
        fn, dtype = read[code]
        theirs = np.asarray(fn(offset))
        if code == 10:  # coremltools hands fp16 back as raw uint16 bits
            theirs = theirs.view(np.float16)
        np.testing.assert_array_equal(
            ours.read(offset, dtype, shape).reshape(-1), theirs.reshape(-1), err_msg=name
        )
        kinds.add(code)
    assert kinds == {10, 21}, consts


@pytest.mark.parametrize("fp16", [False, True])
def test_blob_weights_run(fp16, tmp_path):
    w, b = rand(32, 24, seed=2), rand(32, seed=3)
    x = rand(3, 24, seed=4)
    got = run_one(lambda x: mb.linear(x=x, weight=w, bias=b), {"x": x}, tmp_path, "linear", fp16=fp16)
    if fp16:
        h = lambda a: a.astype(np.float16).astype(np.float32)  # noqa: E731
        assert_matches(got, h(h(x) @ h(w).T + h(b)))
        assert np.abs(got - (x @ w.T + b)).max() > 1e-3  # weights really were fp16
    else:
        assert_matches(got, x @ w.T + b, tolerance=1e-7)


def test_int8_affine_dequantize_per_channel(tmp_path):
    q = np.random.default_rng(5).integers(-128, 127, size=(6, 20)).astype(np.int8)
    zero, scale = np.arange(6, dtype=np.int8), np.linspace(0.01, 0.06, 6).astype(np.float32)
    x = rand(2, 20, seed=6)

    def build(x):
        w = mb.constexpr_affine_dequantize(quantized_data=q, zero_point=zero, scale=scale, axis=0)
        return mb.linear(x=x, weight=w)

    got = run_one(build, {"x": x}, tmp_path, "constexpr_affine_dequantize", target=ct.target.iOS16)
    assert_matches(got, x @ ((q.astype(np.float32) - zero[:, None]) * scale[:, None]).T, tolerance=1e-7)


def test_uint8_and_int4_blockwise_shift_scale(tmp_path):
    rng = np.random.default_rng(7)
    d8 = rng.integers(0, 255, size=(4, 16)).astype(np.uint8)
    d4 = rng.integers(-8, 7, size=(4, 16)).astype(np.int8)
    scale = np.array([[0.5, 0.25], [1, 2], [0.1, 0.2], [3, 4]], np.float32)  # blocks of 8 along axis 1
    offset = np.full((4, 2), 3, np.uint8)

    def build(x):
        a = mb.constexpr_blockwise_shift_scale(data=d8, scale=scale, offset=offset)
        from coremltools.converters.mil.mil import types

        b = mb.constexpr_blockwise_shift_scale(data=mb.const(val=d4.astype(types.np_int4_dtype)), scale=scale)
        return mb.linear(x=x, weight=a), mb.linear(x=x, weight=b)

    x = rand(2, 16, seed=8)
    from tests.backends.coreml.executor.mlprogram._mlp_helpers import run_program

    got = list(
        run_program(
            build, {"x": x}, tmp_path, "constexpr_blockwise_shift_scale", target=ct.target.iOS18
        ).values()
    )
    full = np.repeat(scale, 8, axis=1)
    assert_matches(got[0], x @ ((d8.astype(np.float32) - 3) * full).T, tolerance=1e-7)
    assert_matches(got[1], x @ (d4.astype(np.float32) * full).T, tolerance=1e-6)


def test_corrupt_offset_is_a_clear_error(tmp_path):
    path = save_program(lambda x: mb.linear(x=x, weight=rand(16, 8, seed=9)), {"x": (1, 8)}, tmp_path)
    consts, weight_file = _blob_consts(path)
    _name, _code, shape, offset = consts[0]
    with pytest.raises(BlobFormatError, match="no blob metadata"):
        BlobFile(weight_file).read(offset + 8, np.float32, shape)
    with pytest.raises(BlobFormatError, match="needs"):
        BlobFile(weight_file).read(offset, np.float32, (3,))


def test_damaged_weight_file_names_the_const(tmp_path):
    from bridgec.backends.coreml.executor import LayerError, run

    path = save_program(lambda x: mb.linear(x=x, weight=rand(16, 8, seed=9)), {"x": (1, 8)}, tmp_path)
    consts, weight_file = _blob_consts(path)
    name, _code, _shape, offset = consts[0]
    with open(weight_file, "r+b") as f:
        f.seek(offset)
        f.write(b"\0\0\0\0")  # wipe the sentinel
    with pytest.raises(
        LayerError, match=rf"layer '{name.split('.')[0]}' of kind 'const': .*no blob metadata"
    ):
        run(path, {"x": rand(1, 8)})
