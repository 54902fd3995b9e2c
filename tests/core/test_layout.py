"""layout.contiguous: numpy's ascontiguousarray, whichever kernel copies."""

import sys

import numpy as np
import pytest
import torch  # noqa: F401 - loaded, as under a PyTorch source: the torch kernel is the one tested

from bridgec.core import layout


def _views() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((67, 45))
    read_only = np.frombuffer(matrix.astype(np.float32).tobytes(), np.float32).reshape(67, 45)
    return {
        "float32 transpose": matrix.astype(np.float32).T,
        "float16 transpose": matrix.astype(np.float16).T,
        "float64 permuted": rng.standard_normal((3, 4, 5)).transpose(2, 0, 1),
        "int64 strided": np.arange(200, dtype=np.int64).reshape(10, 20)[:, ::3],
        "bool transpose": (matrix > 0).T,
        "uint16 transpose": np.arange(60, dtype=np.uint16).reshape(6, 10).T,
        "negative strides": matrix[::-1, ::-2],
        "big-endian": matrix.astype(">f4").T,
        "read-only transpose": read_only.T,
        "broadcast": np.broadcast_to(np.arange(5, dtype=np.float32), (4, 5)),
    }


@pytest.mark.parametrize("case", sorted(_views()))
@pytest.mark.parametrize("with_torch", [True, False], ids=["torch-loaded", "numpy-only"])
def test_contiguous_matches_numpy(case, with_torch, monkeypatch):
    if not with_torch:
        monkeypatch.setitem(sys.modules, "torch", None)
    value = _views()[case]
    got = layout.contiguous(value)
    want = np.ascontiguousarray(value)
    assert got.flags.c_contiguous
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert got.tobytes() == want.tobytes()


def test_a_contiguous_array_is_returned_as_it_is():
    value = np.zeros((3, 4), np.float32)
    assert layout.contiguous(value) is value


def test_the_copy_is_new_memory():
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = layout.contiguous(value.T)
    value[0, 0] = 99.0
    assert got[0, 0] == 0.0
