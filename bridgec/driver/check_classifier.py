"""The numbers check of a classifier (``--labels``): Core ML gives the app a dictionary label ->
probability and the top label, where the source model gives a vector of scores. The dictionary is
read back into a vector in the order of the user's labels (not the model's: a model that pairs the
scores with the wrong labels must fail), and the top label must be the source's argmax, or a class
whose source score is within the tolerance of the maximum (a near tie may go either way)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bridgec.backends.coreml.classifier import Classifier
from bridgec.core.words import noun


@dataclass
class LabelCheck:
    """A check only a classifier has (``check.OutputCheck``'s fields, of one element)."""

    name: str
    max_abs: float
    max_rel: float
    passed: bool
    note: str = ""


def classifier_outputs(
    spec: Any,
    got: Mapping[str, Any],
    want: Mapping[str, np.ndarray],
    classifier: Classifier,
    tolerance: float,
) -> tuple[dict[str, Any], list[LabelCheck]]:
    """``got`` with the scores output as the source has it (a vector under its graph name), and the
    checks only a classifier has: the top label, and labels missing from the dictionary."""
    description = spec.description
    got = dict(got)
    checks: list[LabelCheck] = []
    expected = np.asarray(want[classifier.scores])
    dictionary = got.pop(description.predictedProbabilitiesName, None)
    if not isinstance(dictionary, Mapping):
        return got, [
            _failed(description.predictedProbabilitiesName or classifier.scores, "no probability dictionary")
        ]
    missing = [label for label in classifier.labels if label not in dictionary]
    if missing:
        shown = ", ".join(repr(label) for label in missing[:3])
        checks.append(
            _failed(
                description.predictedProbabilitiesName, f"{noun(missing, 'label')} {shown} missing from it"
            )
        )
    else:
        vector = np.array([dictionary[label] for label in classifier.labels], dtype=np.float32)
        got[classifier.scores] = vector.reshape(expected.shape)
    checks.append(
        _top_label(
            description.predictedFeatureName,
            got.get(description.predictedFeatureName),
            expected,
            classifier,
            tolerance,
        )
    )
    return got, checks


def _top_label(
    name: str, top: Any, scores: np.ndarray, classifier: Classifier, tolerance: float
) -> LabelCheck:
    flat = scores.astype(np.float64).reshape(-1)
    argmax = classifier.labels[int(np.argmax(flat))]
    label = None if top is None else np.asarray(top).reshape(()).item()
    if label not in classifier.labels:
        return _failed(name, f"top label {label!r} is none of the labels (expected {argmax!r})")
    gap = float(flat.max() - flat[classifier.labels.index(label)])
    rel = gap / max(float(np.abs(flat).max()), np.finfo(np.float32).tiny)
    passed = rel <= tolerance
    note = "" if passed else f"top label {label!r}, the source's argmax is {argmax!r}"
    return LabelCheck(name, gap, rel, passed, note)


def _failed(name: str, note: str) -> LabelCheck:
    return LabelCheck(name, float("inf"), float("inf"), False, note)


__all__ = ["LabelCheck", "classifier_outputs"]
