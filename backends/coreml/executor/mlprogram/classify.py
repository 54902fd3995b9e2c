"""MIL's ``classify`` op, as the MIL op reference describes it (iOS15 classify.py, "classify"):
"The presence of this op indicates that the model is of type classifier. The op constructs the model
output accordingly; that is, the predicted class label and the output probability dictionary."
Inputs: ``probabilities`` (tensor<[*, ProbT]>, fp32) "whose values are mapped to the class labels",
``classes`` (list<*, ClassT>, ClassT int64 or string; "the number of classes must match the size of
the tensor"). Outputs: <ClassT>, the predicted class, and Dict[ClassT, ProbT], class -> value.

The predicted class is the one with the largest probability (Model.proto's
``predictedFeatureName``: "the most likely class"); on a tie the executor takes the first, as
Core ML's argmax does.
"""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn
from bridgec.core.words import plural


def _classify(op: Op) -> tuple[np.ndarray, dict]:
    probabilities = np.asarray(op["probabilities"], dtype=np.float64).reshape(-1)
    classes = op["classes"]
    if not isinstance(classes, list):
        raise op.error("input 'classes' must be a list of int64 or string labels")
    labels = [np.asarray(c).reshape(()).item() for c in classes]
    if len(labels) != probabilities.size:
        raise op.error(f"{plural(labels, 'class', 'classes')} for {probabilities.size} probabilities")
    top = labels[int(np.argmax(probabilities))]
    dictionary = {label: float(p) for label, p in zip(labels, probabilities, strict=True)}
    return np.array(top, dtype=np.int64 if isinstance(top, int) else object), dictionary


OPS: dict[str, OpFn] = {"classify": _classify}
