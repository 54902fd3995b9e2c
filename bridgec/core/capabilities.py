"""What a target can run: the one question the passes, the driver and the reports ask.

A backend implements :class:`Capabilities` from its op tables; the driver builds it from the
``--target``/``--format`` options and hands it to the pass manager, so no layer below the driver
needs to know which backend answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import onnx_graphsurgeon as gs

from bridgec.core.ir import OpKey


@dataclass(frozen=True)
class NativeOp:
    """What a target's table has for an op, for reports and coverage documents."""

    emits: str  # the target construct(s) written for it (a Core ML layer kind, MIL ops)
    restrictions: str = ""  # what the target requires of a node beyond its op, in words
    missing: str | None = None  # why this target's version lacks it ("needs iOS14 or newer"), or None


class Capabilities(Protocol):
    """What a target can run. ``unsupported_reason`` is the only answer to "can it run this node as
    it is?" (op, attributes, dtypes and ranks); the passes lower or tag exactly what it refuses."""

    @property
    def description(self) -> str:
        """The target in words, for messages and reports ("Core ML ML Program for iOS15")."""
        ...

    @property
    def custom_layers(self) -> bool:
        """Can a model for this target carry custom layers (ops the app implements)?"""
        ...

    def unsupported_reason(self, node: gs.Node) -> str | None:
        """None when the target runs ``node`` as it is, else why it cannot (one phrase, with the fix
        when the user has one)."""
        ...

    def native(self, key: OpKey) -> NativeOp | None:
        """What the target's table has for an op key, whatever this target's version, or None."""
        ...


def own_fix(capabilities: Capabilities) -> str | None:
    """The advice a target gives, in its own words, for nodes it cannot run (its optional
    ``fix_for_unsupported``); None for bridgec's Core ML advice (lowering rules, custom layers, the
    other Core ML format), which ``passes.custom`` words from the pipeline and ``custom_layers``.
    A target with its own fix and no custom layers gets no Core ML custom layers from the passes."""
    return getattr(capabilities, "fix_for_unsupported", None)


__all__ = ["Capabilities", "NativeOp", "own_fix"]
