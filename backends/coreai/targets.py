"""Core AI deployment targets: iOS 27 / macOS 27, the first releases with Core AI."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridgec.core.errors import UsageError

TARGETS = ("iOS27", "macOS27")
DEFAULT_TARGET = "iOS27"
FORMAT = "coreai"
SUFFIX = ".aimodel"


@dataclass(frozen=True)
class Target:
    """A Core AI target. Every Core AI release so far has the same op set (``OSVersion.v27``)."""

    name: str = DEFAULT_TARGET
    avoid_ops: frozenset[str] = field(default_factory=frozenset)
    format: str = FORMAT
    ios: int = 27

    @property
    def description(self) -> str:
        avoided = f" without {', '.join(sorted(self.avoid_ops))}" if self.avoid_ops else ""
        return f"Core AI for {self.name}{avoided}"

    @classmethod
    def parse(cls, name: str | None = None, avoid_ops: tuple[str, ...] | frozenset[str] = ()) -> Target:
        name = DEFAULT_TARGET if name is None else name
        lookup = {t.lower(): t for t in TARGETS}
        key = lookup.get(name.lower())
        if key is None:
            raise UsageError(
                f"--format coreai needs --target iOS27 or macOS27 (Core AI starts with iOS 27 / macOS 27), "
                f"not {name!r}"
            )
        return cls(key, frozenset(avoid_ops))
