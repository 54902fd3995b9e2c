"""``.onnx`` models whose weights live in external data files beside them."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bridgec import frontends
from bridgec.core.errors import UsageError
from tests.helpers import assert_matches, run_graph

W = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)


def save_external(folder, location="m.data"):
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16])],
        initializer=[numpy_helper.from_array(W, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "m.onnx"
    onnx.save(model, path, save_as_external_data=True, location=location, size_threshold=0)
    return path


def test_external_weights_are_read(tmp_path):
    path = save_external(tmp_path)
    assert (tmp_path / "m.data").stat().st_size == W.nbytes
    graph = frontends.load(path)
    x = np.ones((2, 16), np.float32)
    assert_matches(run_graph(graph, {"x": x})[0], x @ W, tolerance=1e-7)


def test_missing_external_file_is_named(tmp_path):
    path = save_external(tmp_path)
    (tmp_path / "m.data").unlink()
    with pytest.raises(UsageError, match=r"external data file 'm.data', which is missing; copy it into"):
        frontends.load(path)


def test_short_external_file_is_an_error(tmp_path):
    path = save_external(tmp_path)
    (tmp_path / "m.data").write_bytes(b"\0" * 8)
    with pytest.raises(UsageError, match=r"needs 1,024 bytes of external data but .m.data. holds 8"):
        frontends.load(path)
