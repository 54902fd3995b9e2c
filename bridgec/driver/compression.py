"""The compress stage (``--compress``): after the numbers check has proved the uncompressed model
right, compress its weights (``backends.coreml.compress``) and measure what that costs: the compressed
model runs in the reference executor on the check's input and its outputs are compared with the
source model's. A lossy mode the user asked for is reported, not failed, unless an explicit
``--tolerance`` holds it to a bound."""

from __future__ import annotations

import dataclasses
from typing import Any

from bridgec.backends.coreml.compress import compress as compress_weights
from bridgec.backends.coreml.model import BuiltModel
from bridgec.core import timing
from bridgec.driver import check as check_mod
from bridgec.driver.request import ConversionRequest


def compress(
    request: ConversionRequest,
    subject: check_mod.Subject,
    prepared: Any,
    checked: check_mod.Check,
    ios: int,
) -> tuple[BuiltModel, check_mod.Check]:
    """The compressed model of ``subject.built`` (checked as ``checked``; ``prepared``: the check's
    feeds and the source's outputs, None under --no-check) and the check with its ``compression``.
    Raises ``CheckFailed`` when an explicit --tolerance is exceeded."""
    request.say(f"compressing the weights: {request.compress}")
    with timing.stage("compress"):
        done = compress_weights(subject.built, request.compress, ios)
    tolerance = request.check.tolerance
    compression = check_mod.Compression(
        done.mode, done.granularity, done.size_before, done.size_after, tolerance=tolerance
    )
    if prepared is None:
        compression.reason = "--no-check"
    elif checked.status != check_mod.CHECKED:
        compression.reason = "the uncompressed model was not checked"
    else:
        source_feeds, model_feeds, user = prepared.feeds
        request.say(f"measuring the compressed model's error against {subject.reference}")
        with timing.stage("check"):
            measured = check_mod.run_check(
                dataclasses.replace(subject, built=done.built),
                source_feeds,
                model_feeds,
                user_inputs=user,
                tolerance=float("inf"),  # measured here; judged below only against an explicit bound
                expected=prepared.expected,
            )
        if measured.status == check_mod.NOT_CHECKED:
            compression.reason = measured.reason
        else:
            for output in measured.outputs:
                output.passed = output.passed and (tolerance is None or output.max_rel <= tolerance)
            compression.outputs = measured.outputs
    checked = dataclasses.replace(checked, compression=compression)
    failed = [o for o in compression.outputs if not o.passed]
    if failed:
        worst = max(failed, key=lambda o: o.max_rel)
        bound = f"--tolerance {check_mod.short(tolerance)}" if tolerance is not None else worst.note
        checked.status = check_mod.FAILED
        checked.reason = (
            f"compressed {done.mode} ({done.granularity}): output {worst.name!r} differs from "
            f"{subject.reference} by max rel err {worst.max_rel:.3g} ({bound}); choose a mode with more "
            "bits or a looser --tolerance"
        )
        raise check_mod.CheckFailed(checked)
    return done.built, checked
