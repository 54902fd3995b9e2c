"""``bridgec targets``: every deployment target and which model formats it takes (Core ML NeuralNetwork,
Core ML ML Program, Core AI), read from the backends' own target tables — nothing restated here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass
class TargetRow:
    names: list[str]  # the releases that share one op set ("iOS15", "macOS12", ...)
    formats: dict[str, str]  # format -> "yes", "yes (default)" or why not


def rows() -> list[TargetRow]:
    """One row per Core ML specification version, then one for the Core AI releases."""
    from bridgec.backends.coreai import targets as coreai
    from bridgec.backends.coreml.targets import (
        DEFAULT_TARGET,
        FORMAT_NAMES,
        MLPROGRAM_MIN_SPEC,
        SPEC_VERSIONS,
    )

    by_spec: dict[int, list[str]] = {}
    for name, spec in SPEC_VERSIONS.items():
        by_spec.setdefault(spec, []).append(name)
    found = []
    for spec, names in by_spec.items():
        default = " (default)" if DEFAULT_TARGET in names else ""
        formats = {fmt: f"yes{default}" for fmt in FORMAT_NAMES}
        if spec < MLPROGRAM_MIN_SPEC:
            formats["mlprogram"] = (
                f"no: ML Programs need {' / '.join(by_spec[MLPROGRAM_MIN_SPEC][:2])} or newer"
            )
        formats[coreai.FORMAT] = f"no: Core AI starts with {' / '.join(coreai.TARGETS)}"
        found.append(TargetRow(names, formats))
    newest = by_spec[max(by_spec)]
    core_ml_only = f"no: bridgec's Core ML targets end at {' / '.join(newest[:2])}"
    formats = {fmt: core_ml_only for fmt in FORMAT_NAMES}
    formats[coreai.FORMAT] = f"yes (default for --format {coreai.FORMAT}: {coreai.DEFAULT_TARGET})"
    found.append(TargetRow(list(coreai.TARGETS), formats))
    return found


def render(fmt: str = "table") -> str:
    from bridgec.backends.coreai.targets import FORMAT as COREAI
    from bridgec.backends.coreai.targets import SUFFIX as COREAI_SUFFIX
    from bridgec.backends.coreml.targets import FORMAT_NAMES, SUFFIXES

    found = rows()
    if fmt == "json":
        return json.dumps([asdict(r) for r in found], indent=2)
    titles = {
        **{f: f"{n} ({SUFFIXES[f]})" for f, n in FORMAT_NAMES.items()},
        COREAI: f"Core AI ({COREAI_SUFFIX})",
    }
    table = [["--target", *titles.values()]] + [
        [" / ".join(r.names), *(r.formats[f] for f in titles)] for r in found
    ]
    if fmt == "markdown":
        lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in table[1:]])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


__all__ = ["TargetRow", "render", "rows"]
