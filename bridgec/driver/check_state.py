"""The numbers check of a stateful model: several calls in sequence, state compared after each.

PyTorch runs the program as loaded on a copy of its buffers (``frontends.pt2_state.PyTorchState``);
the reference executor runs the Core ML model on one state dict, as an app passes one ``MLState`` to
each prediction. Each call gets other inputs (the first: the check's usual ones), and after each the
outputs and every state are compared. Core ML holds state in float16 (``backends.coreml.state``), so
the comparison uses float16's tolerance (or a looser one given).

Core ML's state starts at zeros (``MLModel.makeState()``); a buffer registered with other values
starts there in PyTorch, so the executor's state is set to them first, as an app sets it with
``withMultiArray(for:)``, and the check says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bridgec.backends.coreml.state import STATE_DTYPE, model_outputs
from bridgec.core.errors import BridgecError
from bridgec.core.input_values import MASK_RANGE, random_value
from bridgec.core.numerics import TOLERANCES
from bridgec.core.state import state_of
from bridgec.driver.check import (
    CHECKED,
    FAILED,
    Check,
    OutputCheck,
    Subject,
    compare_outputs,
    executor_gaps,
    gap_reason,
    not_checked,
    short,
)
from bridgec.driver.check_inputs import coreml_feeds, shape_label

CALLS = 3  # calls in sequence: the second shows the first one's write was kept, the third that it builds on


def call_feeds(
    first: Mapping[str, np.ndarray], user_inputs: list[str], ranges: Mapping[str, Any], calls: int = CALLS
) -> list[dict[str, np.ndarray]]:
    """The user inputs of each call: ``first``'s, then seeded random ones of the same shapes and
    dtypes (integer inputs within the values they index, ``input_values.value_ranges``)."""
    rng = np.random.default_rng(2)
    feeds = [{n: first[n] for n in user_inputs}]
    for _ in range(calls - 1):
        feeds.append(
            {
                n: random_value(
                    rng, np.shape(first[n]), np.asarray(first[n]).dtype, ranges.get(n, MASK_RANGE)
                )
                for n in user_inputs
            }
        )
    return feeds


def run_state_check(
    subject: Subject,
    source_state: Any,  # frontends.pt2_state.PyTorchState
    first: dict[str, np.ndarray],
    ranges: Mapping[str, Any],
    *,
    user_inputs: bool = False,
    tolerance: float | None = None,
    calls: int = CALLS,
    progress: Callable[[str], None] | None = None,
) -> Check:
    """Check ``subject`` (a stateful model) over ``calls`` calls in sequence; the first call's inputs
    are ``first`` (the check's feeds; state inputs among them are ignored)."""
    say = progress or (lambda message: None)
    gaps = executor_gaps(subject.built)
    if gaps:
        return not_checked(gap_reason(gaps))
    base = tolerance if tolerance is not None else TOLERANCES[subject.precision]
    tolerance = max(base, TOLERANCES["fp16"])  # the state itself is float16 between calls
    buffers = state_of(subject.graph)
    names = [t.name for t in model_outputs(subject.graph)]
    feeds = call_feeds(first, source_state.user_inputs, ranges, calls)
    say(f"checking the numbers: {calls} calls in sequence, PyTorch against the Core ML model with state")
    try:
        want = source_state.run_calls(feeds)
    except Exception as exc:  # noqa: BLE001 - the model's own failure, said as such
        return not_checked(f"PyTorch could not run the model {calls} times in sequence: {exc}")
    state = {b.input: source_state.initial[b.input].astype(STATE_DTYPE) for b in buffers}
    # the line reads "(fp32, fp16 state tolerance 5e-2)": the tolerance is the state's
    precision = f"{subject.precision}, fp16 state"
    result = Check(CHECKED, subject.reference, precision, tolerance, user_inputs=user_inputs)
    for index, (call, (outputs, expected_state)) in enumerate(zip(feeds, want, strict=True), start=1):
        try:
            got = subject.built.run_reference(coreml_feeds(subject.built.spec, call), state=state)
        except BridgecError as exc:
            return not_checked(f"the reference executor could not run the model: {exc}")
        checks = compare_outputs(got, outputs, names, tolerance)
        checks += [
            _named(check, f"state {b.name}")
            for b in buffers
            for check in compare_outputs(
                {b.input: state[b.input].astype(np.float32)}, expected_state, [b.input], tolerance
            )
        ]
        result.outputs = checks if not result.outputs else _worst(result.outputs, checks)
        failed = [c for c in checks if not c.passed]
        if failed:
            worst = max(failed, key=lambda c: c.max_rel if np.isfinite(c.max_rel) else float("inf"))
            result.status = FAILED
            result.reason = (
                f"{worst.name!r} differs from {subject.reference} after call {index} of {calls} in sequence by max "
                f"rel err {worst.max_rel:.3g} (tolerance {short(tolerance)}, float16 state)"
            )
            return result
    result.shapes = [shape_label(feeds[0])]
    result.notes.append(f"{calls} calls in sequence, state compared after each")
    nonzero = [b.name for b in buffers if np.any(source_state.initial[b.input] != 0)]
    if nonzero:
        result.notes.append(
            f"state {', '.join(nonzero)} starts at the buffer's registered values, not Core ML's zeros: set it "
            "with MLState.withMultiArray(for:) before the first prediction"
        )
    return result


def _named(check: OutputCheck, name: str) -> OutputCheck:
    check.name = name
    return check


def _worst(before: list[OutputCheck], now: list[OutputCheck]) -> list[OutputCheck]:
    return [max(a, b, key=lambda o: (not o.passed, o.max_rel)) for a, b in zip(before, now, strict=True)]


__all__ = ["CALLS", "call_feeds", "run_state_check"]
