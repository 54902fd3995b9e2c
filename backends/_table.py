"""What every backend's emitter table shares (Core ML's NeuralNetwork layers ``coreml/neuralnetwork_layers/``
and ML Program MIL ops ``coreml/mlprogram_ops/``, Core AI's ``coreai/ops/``): the emitter's key and
restrictions, and a table collected lazily from one module per op family. It imports no backend, so
the backends share it without importing each other."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import onnx_graphsurgeon as gs

from bridgec.core import ir

# (node, the backend's Target) -> why the emitter cannot take the node, or None
Check = Callable[[gs.Node, Any], "str | None"]


class EmitterInfo:
    """Mixin for the emitter dataclasses (fields ``op``, ``domain``, ``check``)."""

    op: str
    domain: str
    check: Check | None

    @property
    def key(self) -> ir.OpKey:
        return (self.domain, self.op)

    @property
    def emits(self) -> str:
        """The layer kind(s) or ops it writes (Core ML layers, MIL ops, ``coreai.*`` ops), for reports."""
        raise NotImplementedError

    @property
    def min_spec_version(self) -> int:
        """The first Core ML specification version that has what it writes (0 where targets do not differ)."""
        raise NotImplementedError

    @property
    def restrictions(self) -> str:
        """What the capability check requires, for coverage reports: its docstring's "Restrictions:" line."""
        doc = (self.check.__doc__ or "") if self.check else ""
        words = " ".join(doc.split())  # one line, however the docstring wraps
        return words.removeprefix("Restrictions:").strip().rstrip(".")


class _HasKey(Protocol):
    key: ir.OpKey


E = TypeVar("E", bound=_HasKey)


class EmitterTable(Generic[E]):
    """ONNX op key -> emitter, from the ``emitters`` list of each family module of ``package``,
    imported on first use (the table is consulted only once a model is converted)."""

    def __init__(self, package: str, families: tuple[str, ...]) -> None:
        self.package, self.families = package, families
        self.entries: dict[ir.OpKey, E] | None = None

    def get(self) -> dict[ir.OpKey, E]:
        if self.entries is None:
            entries: dict[ir.OpKey, E] = {}
            for family in self.families:
                for emitter in importlib.import_module(f"{self.package}.{family}").emitters:
                    if emitter.key in entries:
                        raise ValueError(f"{self.package}: two emitters for {emitter.key}")
                    entries[emitter.key] = emitter
            self.entries = entries
        return self.entries
