"""Errors raised by the reference executor.

They are distinct types so that callers (tests, the converter's self-check) can tell "the model
uses something the executor cannot judge" apart from "the model is malformed" or "the caller fed
the wrong inputs".
"""

from __future__ import annotations

from bridgec.core.errors import ConversionError


class ExecutorError(ConversionError):
    """Base class: the executor could not produce a trustworthy result."""


class UnsupportedLayerError(ExecutorError):
    """A layer kind (or a variant of one) that the executor has no implementation for.

    Raised instead of passing data through, because a silent identity would let a wrong model
    look correct.
    """

    def __init__(self, layer_name: str, kind: str, detail: str = "") -> None:
        self.layer_name = layer_name
        self.kind = kind
        msg = f"layer {layer_name!r} of kind {kind!r}: the reference executor cannot run it"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class InputError(ExecutorError, ValueError):
    """The inputs handed to ``run`` do not match the model description."""


class LayerError(ExecutorError):
    """A supported layer whose parameters or input shapes violate NeuralNetwork.proto."""

    def __init__(self, layer_name: str, kind: str, detail: str) -> None:
        self.layer_name = layer_name
        self.kind = kind
        super().__init__(f"layer {layer_name!r} of kind {kind!r}: {detail}")
