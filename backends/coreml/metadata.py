"""Model metadata: what Xcode shows on the model page, plus bridgec's provenance (``userDefined``).

One writer for both formats: NeuralNetwork specs and ML Program specs carry the same
``description.metadata`` message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridgec import __version__


def _text(value: str) -> str:
    """``value`` as UTF-8 text protobuf accepts: a file name or argument that is not UTF-8 reaches
    Python with surrogate escapes, which protobuf refuses; they become U+FFFD instead."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass
class Metadata:
    """What the app developer sees in Xcode's model page, plus provenance (``userDefined``)."""

    short_description: str = ""
    author: str = ""
    license: str = ""
    version: str = ""
    input_descriptions: dict[str, str] = field(default_factory=dict)
    output_descriptions: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)  # stored as userDefined["bridgec.KEY"]

    def apply(self, spec: Any) -> None:
        meta = spec.description.metadata
        meta.shortDescription = _text(
            self.short_description or meta.shortDescription or "Converted by bridgec"
        )
        meta.author = _text(self.author)
        meta.license = _text(self.license)
        meta.versionString = _text(self.version)
        for key in [k for k in meta.userDefined if k.startswith("bridgec.")]:
            del meta.userDefined[key]
        meta.userDefined["bridgec.version"] = __version__
        for key, value in sorted(self.provenance.items()):
            meta.userDefined[f"bridgec.{key}"] = _text(str(value))
        for features, given, kind in (
            (spec.description.input, self.input_descriptions, "input"),
            (spec.description.output, self.output_descriptions, "output"),
        ):
            names = {feature.name for feature in features}
            unknown = sorted(set(given) - names)
            if unknown:
                from bridgec.core.errors import UsageError

                raise UsageError(
                    f"--{kind}-description {unknown[0]}=...: the model has no {kind} {unknown[0]!r} "
                    f"(its {kind}s: {', '.join(sorted(names))})"
                )
            for feature in features:
                if feature.name in given:
                    feature.shortDescription = _text(given[feature.name])

    @classmethod
    def from_dict(cls, values: dict[str, str]) -> Metadata:
        """``description``, ``author``, ``version``, and anything else as provenance."""
        rest = dict(values)
        return cls(
            short_description=rest.pop("description", ""),
            author=rest.pop("author", ""),
            version=rest.pop("version", ""),
            provenance=rest,
        )
