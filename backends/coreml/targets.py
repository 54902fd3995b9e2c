"""Core ML deployment targets: which specification version (and so which layers) a model may use."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridgec.core.errors import UsageError

# Core ML specification versions by the OS release that first runs them. NeuralNetwork models
# use whichever they need; ML Program models need 6 (iOS15) or newer.
_RELEASES = {  # spec version: (iOS, macOS, tvOS, watchOS)
    4: ("iOS13", "macOS10.15", "tvOS13", "watchOS6"),
    5: ("iOS14", "macOS11", "tvOS14", "watchOS7"),
    6: ("iOS15", "macOS12", "tvOS15", "watchOS8"),
    7: ("iOS16", "macOS13", "tvOS16", "watchOS9"),
    8: ("iOS17", "macOS14", "tvOS17", "watchOS10"),
    9: ("iOS18", "macOS15", "tvOS18", "watchOS11"),
}
SPEC_VERSIONS: dict[str, int] = {name: spec for spec, names in _RELEASES.items() for name in names}
FORMATS = ("auto", "neuralnetwork", "mlprogram")
FORMAT_NAMES = {"neuralnetwork": "NeuralNetwork", "mlprogram": "ML Program"}
SUFFIXES = {"neuralnetwork": ".mlmodel", "mlprogram": ".mlpackage"}
PRECISIONS = ("fp32", "fp16")
MLPROGRAM_MIN_SPEC = 6
# Core ML tensors have rank <= 5 in both formats: coremltools refuses an ML Program with a rank-6
# tensor, and the NeuralNetwork runtime fails on one when the model loads ("Invalid rank: 6",
# apple/coremltools#832, #1723) although NeuralNetwork.proto states no limit for its ND layers.
MAX_RANK = 5
DEFAULT_TARGET = "iOS15"


def ios_name(spec_version: int) -> str:
    return _RELEASES[spec_version][0]


def spec_version_of_ios(ios: int) -> int:
    """The Core ML specification version iOS ``ios`` introduced (iOS13 -> 4 ... iOS18 -> 9)."""
    return ios - 9


@dataclass(frozen=True)
class Target:
    """A deployment target: an OS release (which fixes the Core ML specification version, and so
    which layers or MIL ops a model may use) and a model format.

    ``avoid_ops`` lets a user declare ops the target must not be asked for (a runtime bug, a
    device that lacks them); the lowering rules then pick another form.
    """

    name: str
    spec_version: int
    avoid_ops: frozenset[str] = field(default_factory=frozenset)
    format: str = "neuralnetwork"

    @property
    def ios(self) -> int:
        """The iOS release with the same Core ML (13 for iOS13 / macOS10.15 ... 18 for iOS18 / macOS15)."""
        return next(int(name[3:]) for name in _RELEASES[self.spec_version] if name.startswith("iOS"))

    @property
    def description(self) -> str:
        avoided = f" without {', '.join(sorted(self.avoid_ops))}" if self.avoid_ops else ""
        return f"Core ML {FORMAT_NAMES[self.format]} for {self.name}{avoided}"

    def with_format(self, format: str) -> Target:
        return Target(self.name, self.spec_version, self.avoid_ops, format)

    @classmethod
    def parse(
        cls,
        name: str | None = None,
        avoid_ops: tuple[str, ...] | frozenset[str] = (),
        format: str = "neuralnetwork",
    ) -> Target:
        name = DEFAULT_TARGET if name is None else name  # '' is no target, not the default
        lookup = {k.lower(): k for k in SPEC_VERSIONS}
        key = lookup.get(name.lower())
        if key is None:
            raise UsageError(f"unknown --target {name!r}; choose one of: {', '.join(SPEC_VERSIONS)}")
        if format not in FORMAT_NAMES:
            raise UsageError(f"unknown --format {format!r}; choose one of: {', '.join(FORMATS)}")
        spec = SPEC_VERSIONS[key]
        if format == "mlprogram" and spec < MLPROGRAM_MIN_SPEC:
            raise UsageError(
                f"--format mlprogram needs --target iOS15 / macOS12 or newer (ML Programs do not run on "
                f"{key}); choose a newer --target or --format neuralnetwork"
            )
        return cls(key, spec, frozenset(avoid_ops), format)
