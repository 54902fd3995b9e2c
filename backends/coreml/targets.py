"""Core ML deployment targets: which specification version (and so which layers) a model may use."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridgec.errors import UsageError

# NeuralNetwork specification versions by the OS release that first runs them.
SPEC_VERSIONS: dict[str, int] = {
    "iOS13": 4,
    "macOS10.15": 4,
    "tvOS13": 4,
    "watchOS6": 4,
    "iOS14": 5,
    "macOS11": 5,
    "tvOS14": 5,
    "watchOS7": 5,
}
DEFAULT_TARGET = "iOS14"


@dataclass(frozen=True)
class Target:
    """A deployment target for the NeuralNetwork format (the format that carries custom layers).

    ``avoid_ops`` lets a user declare ops the target must not be asked for (a runtime bug, a
    device that lacks them); the lowering rules then pick another form.
    """

    name: str
    spec_version: int
    avoid_ops: frozenset[str] = field(default_factory=frozenset)
    format: str = "neuralnetwork"

    @property
    def description(self) -> str:
        avoided = f" without {', '.join(sorted(self.avoid_ops))}" if self.avoid_ops else ""
        return f"Core ML NeuralNetwork for {self.name}{avoided}"

    @classmethod
    def parse(cls, name: str | None = None, avoid_ops: tuple[str, ...] | frozenset[str] = ()) -> Target:
        name = name or DEFAULT_TARGET
        lookup = {k.lower(): k for k in SPEC_VERSIONS}
        key = lookup.get(name.lower())
        if key is None:
            raise UsageError(f"unknown --target {name!r}; choose one of: {', '.join(SPEC_VERSIONS)}")
        return cls(key, SPEC_VERSIONS[key], frozenset(avoid_ops))
