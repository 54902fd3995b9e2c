"""The ONNX backend harness feeds integer and bool tensors as a Core ML app does: int64 narrowed to
int32 where every value fits (a skip where one does not), bool as 0/1 int32, and Core ML's int32
outputs widened back to the model's int64 or bool. onnx's own BackendTest, which compares dtypes,
runs node tests with integer and bool inputs and outputs in both formats."""

from __future__ import annotations

import unittest

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import helper

from bridgec.driver import node_tests
from bridgec.driver.onnx_backend import BridgecBackend, Unsupported


class MLProgramBackend(BridgecBackend):
    format = "mlprogram"


# bool in and out (not, and, where, equal), int64 out (argmax), int64 indices (gather_elements)
INTEGER_TESTS = r"^test_(not_2d|and_bcast3v1d|where_example|argmax_no_keepdims_example|gather_elements_negative_indices|cumsum_1d_int32_exclusive|equal_bcast)_cpu$"


@pytest.mark.parametrize("backend", [BridgecBackend, MLProgramBackend])
def test_onnx_backend_test_runs_integer_and_bool_node_tests(backend):
    suite = onnx.backend.test.BackendTest(backend, __name__)
    suite.include(INTEGER_TESTS)
    with open("/dev/null", "w") as quiet:
        result = unittest.TextTestRunner(stream=quiet, verbosity=0).run(suite.test_suite)
    skipped = {
        t.id().rsplit(".", 1)[-1]: why for t, why in result.skipped if why != "no matched include pattern"
    }
    assert not result.failures and not result.errors
    # the one left: CumSum's axis is a model input (a rank-0 tensor, which no Core ML input is)
    assert list(skipped) == ["test_cumsum_1d_int32_exclusive_cpu"]
    assert result.testsRun - (len(result.skipped) - len(skipped)) == 7


def _add_model(dtype: int) -> onnx.ModelProto:
    info = [helper.make_tensor_value_info(n, dtype, [3]) for n in ("a", "b", "y")]
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "g", info[:2], info[2:])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
def test_int64_values_are_narrowed_to_int32_and_widened_back(fmt):
    rep = BridgecBackend.prepare(_add_model(onnx.TensorProto.INT64), format=fmt)
    (got,) = rep.run([np.array([1, -2, 2**20], np.int64), np.array([5, 7, -3], np.int64)])
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [6, 5, 2**20 - 3])
    with pytest.raises(Unsupported, match="input 'a' holds int64 values outside int32"):
        rep.run([np.array([2**40, 0, 0], np.int64), np.zeros(3, np.int64)])


def test_the_node_test_counts_include_integer_inputs():
    passed = [
        node_tests.run_node_test(case)
        for case in node_tests.load_node_tests(r"^test_(not_2d|where_example)$")
    ]
    assert passed == [("passed", ""), ("passed", "")]
