"""State ops (iOS18): read_state, and coreml_update_state as a saved program holds it (write_state,
then read_state where the new value is used), on a caller's state that carries over between calls.
The program is built with coremltools' own MIL builder, not bridgec's emitter."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

from bridgec.backends.coreml.executor import InputError, run
from tests.backends.coreml.executor.mlprogram._mlp_helpers import op_types


@pytest.fixture(scope="module")
def accumulator(tmp_path_factory):
    """y = 2 * s after s += x, with s a (2, 3) fp16 state (the coremltools guide's accumulator)."""

    @mb.program(
        input_specs=[mb.TensorSpec((2, 3), dtype=types.fp32), mb.StateTensorSpec((2, 3), dtype=types.fp16)],
        opset_version=ct.target.iOS18,
    )
    def program(x, acc):
        total = mb.add(x=mb.cast(x=mb.read_state(input=acc), dtype="fp32"), y=x)
        kept = mb.coreml_update_state(state=acc, value=mb.cast(x=total, dtype="fp16"))
        return mb.mul(x=mb.cast(x=kept, dtype="fp32"), y=np.float32(2), name="y")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ct.convert(
            program,
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS18,
            compute_precision=ct.precision.FLOAT32,
            skip_model_load=True,
        )
    path = tmp_path_factory.mktemp("state") / "accumulator.mlpackage"
    model.save(str(path))
    return path


def test_the_saved_program_writes_then_reads_the_state(accumulator):
    assert [t for t in op_types(accumulator) if t in ("read_state", "write_state")] == [
        "read_state",
        "write_state",
        "read_state",
    ]


def test_state_carries_over_between_calls_in_float16(accumulator):
    from bridgec.backends.coreml.executor.mlprogram import new_state

    state = new_state(accumulator)
    assert state["acc"].dtype == np.float16 and not state["acc"].any()  # MLModel.makeState(): zeros
    rng = np.random.default_rng(0)
    expected = np.zeros((2, 3), np.float16)
    for _ in range(3):
        x = rng.standard_normal((2, 3)).astype(np.float32)
        expected = (expected.astype(np.float32) + x).astype(np.float16)
        y = run(accumulator, {"x": x}, state=state)["y"]
        np.testing.assert_array_equal(state["acc"], expected)  # written rounded to the state's fp16
        np.testing.assert_array_equal(y, 2 * expected.astype(np.float32))  # read back after the write


def test_a_state_set_by_the_caller_is_where_the_model_starts(accumulator):
    state = {"acc": np.full((2, 3), 10, np.float16)}  # as an app sets it with withMultiArray(for:)
    run(accumulator, {"x": np.ones((2, 3), np.float32)}, state=state)
    np.testing.assert_array_equal(state["acc"], np.full((2, 3), 11, np.float16))


@pytest.mark.parametrize(
    "state, message",
    [
        (None, "the model has state acc: run it with one"),
        ({}, "the state given lacks 'acc'"),
        ({"acc": np.zeros((3, 2), np.float16)}, "state 'acc' has shape (3, 2), the model declares (2, 3)"),
    ],
)
def test_a_missing_or_misshapen_state_is_refused(accumulator, state, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(accumulator, {"x": np.zeros((2, 3), np.float32)}, state=state)
