"""A classifier (``--labels``): which output holds the class scores, and the labels Core ML maps them to.

Both formats describe a classifier the same way (Model.proto's ``predictedFeatureName``, the top
class, and ``predictedProbabilitiesName``, a dictionary label -> probability); only how the
dictionary is made differs (NeuralNetwork: Core ML after the network, ML Program: MIL's
``classify`` op). The labels are checked here, once, so both formats refuse the same things in the
same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.errors import UsageError
from bridgec.core.words import plural

# the top class's feature name, as coremltools names it (ClassifierConfig's default)
PREDICTED_FEATURE = "classLabel"
# an ML Program's probability dictionary, as coremltools' classify step names it (the NeuralNetwork's
# keeps the scores output's name)
MLPROGRAM_PROBABILITIES = f"{PREDICTED_FEATURE}_probs"
_INT64 = np.iinfo(np.int64)


@dataclass(frozen=True)
class Classifier:
    """What ``--labels`` makes of a graph: the scores output and the labels in score order."""

    scores: str  # the graph output holding one score per class
    labels: tuple[str, ...] | tuple[int, ...]

    @property
    def integer(self) -> bool:
        return isinstance(self.labels[0], int)


def class_labels(labels: Sequence[str | int]) -> tuple[str, ...] | tuple[int, ...]:
    """The labels as Core ML stores them. Labels that are all whole numbers written plainly
    (``0``, ``17``, ``-3``; not ``007``) become int64 labels, as coremltools makes them from ints,
    so the app gets an ``Int64`` class; any other list stays strings."""
    labels = tuple(labels)
    if all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
        values = labels
    elif all(isinstance(label, str) and _plain_int(label) for label in labels):
        values = tuple(int(label) for label in labels)
    else:
        return tuple(str(label) for label in labels)
    if any(not _INT64.min <= v <= _INT64.max for v in values):
        return tuple(str(label) for label in labels)
    return values


def _plain_int(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isdigit() and digits.isascii() and (digits == "0" or not digits.startswith("0"))


def checked_labels(labels: Sequence[str | int]) -> tuple[str, ...] | tuple[int, ...]:
    """``class_labels``, refusing (UsageError) what cannot label classes whatever the model: none at
    all, or one label twice."""
    if not labels:
        raise UsageError("--labels: no labels given (one a line)")
    values = class_labels(labels)
    seen: set = set()
    repeated = [label for label in values if label in seen or seen.add(label)]
    if repeated:
        raise UsageError(f"--labels: {repeated[0]!r} is given twice; every class needs its own label")
    return values


def classifier_for(graph: gs.Graph, labels: Sequence[str | int], output: str | None = None) -> Classifier:
    """The classifier ``--labels`` (and ``--labels-output``) asks of ``graph``. Raises UsageError,
    one line, for what cannot be one."""
    names = [t.name for t in graph.outputs]
    if output is None:
        if len(names) != 1:
            raise UsageError(
                f"--labels: the model has {plural(names, 'output')} ({', '.join(names)}); say which holds "
                "the "
                "class scores with --labels-output NAME"
            )
        output = names[0]
    elif output not in names:
        raise UsageError(
            f"--labels-output {output}: not an output of the model (its outputs: {', '.join(names)})"
        )
    values = checked_labels(labels)
    taken = [name for name in (PREDICTED_FEATURE, MLPROGRAM_PROBABILITIES) if name in names]
    if taken:
        raise UsageError(
            f"--labels: the model has an output named {taken[0]!r}, a name the classifier's outputs take; "
            "rename that output"
        )
    tensor = next(t for t in graph.outputs if t.name == output)
    shape = tensor.shape
    if shape is not None and all(isinstance(d, int) for d in shape):
        classes = int(np.prod(shape)) if shape else 1
        if not shape or classes != shape[-1]:
            raise UsageError(
                f"--labels: output {output!r} has shape {'x'.join(map(str, shape)) or 'scalar'}, not one "
                "score per class (1xN or N)"
            )
        if classes != len(values):
            raise UsageError(
                f"--labels: {plural(values, 'label')} for the {plural(classes, 'class', 'classes')} of "
                f"output {output!r}; give one "
                "label a line, one per class"
            )
    return Classifier(output, values)


__all__ = [
    "MLPROGRAM_PROBABILITIES",
    "PREDICTED_FEATURE",
    "Classifier",
    "checked_labels",
    "class_labels",
    "classifier_for",
]
