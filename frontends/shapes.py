"""``--input NAME:1x3x256x256`` parsing and applying shapes to graph inputs."""

from __future__ import annotations

import re

from bridgec.errors import UsageError

_SPEC = re.compile(r"^(?:(?P<name>[^:]+):)?(?P<dims>\d+(?:[x,]\d+)*)$")

InputShapes = dict[str, tuple[int, ...]]


def parse_input_spec(text: str) -> tuple[str | None, tuple[int, ...]]:
    """``"x:1x3x256x256"`` -> ("x", (1, 3, 256, 256)); the name may be omitted for single-input models."""
    match = _SPEC.match(text.strip())
    if not match:
        raise UsageError(f"malformed --input {text!r}: expected NAME:DIMS such as x:1x3x256x256")
    dims = tuple(int(d) for d in re.split(r"[x,]", match["dims"]))
    if any(d <= 0 for d in dims):
        raise UsageError(f"malformed --input {text!r}: every dimension must be a positive integer")
    return match["name"], dims


def parse_input_specs(texts: list[str] | None) -> dict[str | None, tuple[int, ...]]:
    found: dict[str | None, tuple[int, ...]] = {}
    for text in texts or []:
        name, dims = parse_input_spec(text)
        if name in found:
            raise UsageError(f"--input {name or '(unnamed)'} given twice")
        found[name] = dims
    return found


def resolve(given: dict[str | None, tuple[int, ...]] | None, names: list[str]) -> InputShapes:
    """Match user-given shapes to the model's input names; an unnamed shape needs exactly one input."""
    given = dict(given or {})
    if None in given:
        if len(names) != 1:
            raise UsageError(
                f"the model has {len(names)} inputs ({', '.join(names)}); name each one: "
                f"--input {names[0] if names else 'x'}:1x3x224x224"
            )
        given[names[0]] = given.pop(None)
    unknown = [n for n in given if n not in names]
    if unknown:
        raise UsageError(
            f"--input names {', '.join(map(str, unknown))} are not inputs of the model "
            f"(its inputs: {', '.join(names) or 'none'})"
        )
    return {k: v for k, v in given.items() if k is not None}
