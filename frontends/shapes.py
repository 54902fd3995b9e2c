"""``--input NAME:1x3x256x256[:DTYPE]`` parsing and applying shapes to graph inputs."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from bridgec.core.errors import UsageError
from bridgec.core.sizes import too_big
from bridgec.core.tensor_spec import TensorSpec, parse_dtype
from bridgec.core.words import plural

_SPEC = re.compile(r"^(?:(?P<name>[^:]+):)?(?P<dims>\d+(?:[x,]\d+)*)$")
_FLEX = re.compile(r"^(?:(?P<name>[^:(){}]+):)?(?P<dims>[\dx,().{}]+)$")
_RANGE = re.compile(r"^\((\d+)\.\.(\d*)\)$")
_CHOICES = re.compile(r"^\{(\d+(?:,\d+)*)\}$")
# a trailing ``:int64``: dims start with a digit, a range's "(" or a choice's "{", a dtype name with a letter
_DTYPE_TAIL = re.compile(r"^(?P<spec>.+):(?P<dtype>[A-Za-z]\w*)$")
# ``1x3x{224,256}x{224,256}`` is the product of the choices: a line stays readable up to this many
MAX_ENUMERATED = 64
# An unbounded range (lo..) cannot be run at its end: the check and the corner conversion run it
# at this multiple of its lower bound instead (a CNN's stride-aligned lower bound stays aligned).
UNBOUNDED_STAND_IN = 2

InputShapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class FlexibleShape:
    """An input that takes several shapes: ``enumerated`` ones (the first is the default), or a
    ``ranges`` (lo, hi) per dimension (the lower bounds are the default; hi None: no upper bound,
    Core ML's upperBound -1)."""

    enumerated: tuple[tuple[int, ...], ...] = ()
    ranges: tuple[tuple[int, int | None], ...] = ()

    @property
    def default(self) -> tuple[int, ...]:
        return self.enumerated[0] if self.enumerated else tuple(lo for lo, _ in self.ranges)

    @property
    def unbounded(self) -> bool:
        return any(hi is None for _, hi in self.ranges)

    def _top(self) -> tuple[int, ...]:
        """The upper ends, an unbounded one at ``UNBOUNDED_STAND_IN`` times its lower bound."""
        return tuple(hi if hi is not None else lo * UNBOUNDED_STAND_IN for lo, hi in self.ranges)

    def corners(self) -> list[tuple[int, ...]]:
        """The shapes a conversion is checked at: every enumerated one, or both ends of the ranges
        (an unbounded end at its stand-in, ``UNBOUNDED_STAND_IN``)."""
        if self.enumerated:
            return list(self.enumerated)
        return [self.default, self._top()]

    def between(self) -> list[tuple[int, ...]]:
        """A shape strictly inside the ranges (each range's midpoint, made odd where it can be): a
        layer whose output depends on the size (a ceil_mode window dropped at some sizes) can agree
        at both ends and differ in between. Nothing for enumerated shapes, whose every one is a corner."""
        if self.enumerated:
            return []
        mid = []
        for (lo, _), hi in zip(self.ranges, self._top(), strict=True):
            m = lo + (hi - lo) // 2
            if m % 2 == 0 and lo < m + 1 < hi:
                m += 1
            mid.append(m)
        shape = tuple(mid)
        return [] if shape in self.corners() else [shape]


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _malformed(text: str, why: str = "") -> UsageError:
    return UsageError(
        f"malformed --input {_shown(text)}{': ' + why if why else ''}: expected NAME:DIMS[:DTYPE] such as "
        "x:1x3x256x256, ids:1x16:int64, x:1x3x(128..512)x(128..512), x:1x3x(128..)x(128..), "
        "x:1x3x{224,256}x{224,256} or x:1x3x224x224,1x3x320x320"
    )


def split_dtype(text: str) -> tuple[str, np.dtype | None]:
    """``"ids:1x16:int64"`` -> ("ids:1x16", int64): the spec without its dtype, and the dtype
    (None when the spec names none)."""
    match = _DTYPE_TAIL.match(text.strip())
    if not match:
        return text, None
    return match["spec"], parse_dtype(match["dtype"], f"--input {_shown(text)}")


def _check_size(text: str, dims) -> None:
    why = too_big(dims)
    if why:
        raise UsageError(f"--input {_shown(text)}: {why}; give the shape the model runs at")


def parse_flexible_spec(text: str) -> tuple[str | None, FlexibleShape] | None:
    """``x:1x3x(128..512)x(128..512)`` (ranges; ``(128..)`` has no upper bound),
    ``x:1x3x{224,256}x{224,256}`` (enumerated: every combination of the choices, first ones the
    default) or ``x:1x3x224x224,1x3x320x320`` (enumerated shapes, the first the default); None for a
    plain fixed shape. A trailing ``:DTYPE`` is not part of the shape (``split_dtype``)."""
    spec = split_dtype(text)[0]
    if re.search(r"\d{19,}", spec):  # more than 2^63: no size, and int() of 5000 digits is refused
        raise _malformed(text, "a dimension has more than 18 digits")
    match = _FLEX.match(spec.strip())
    if not match:
        if re.search(r"[(){}]", spec):
            raise _malformed(text)
        return None
    dims = match["dims"]
    if "(" in dims or ")" in dims:
        if "{" in dims or "}" in dims:
            raise _malformed(
                text, "ranges and {choices} cannot be mixed in one input (Core ML takes one or the other)"
            )
        return match["name"], FlexibleShape(ranges=_ranges(text, dims))
    if "{" in dims or "}" in dims:
        return match["name"], FlexibleShape(enumerated=_choices(text, dims))
    if "," in dims and "x" in dims:
        shapes = []
        for part in dims.split(","):
            if not re.fullmatch(r"\d+(?:x\d+)*", part):
                raise _malformed(text, f"{part!r} is not a shape")
            shapes.append(tuple(int(d) for d in part.split("x")))
        if len({len(shape) for shape in shapes}) != 1:
            raise _malformed(text, "the enumerated shapes differ in rank")
        return match["name"], FlexibleShape(enumerated=_enumerated(text, shapes))
    return None


def _ranges(text: str, dims: str) -> tuple[tuple[int, int | None], ...]:
    ranges: list[tuple[int, int | None]] = []
    for token in dims.split("x"):
        found = _RANGE.match(token)
        if found:
            lo, hi = int(found[1]), (int(found[2]) if found[2] else None)
        elif token.isdigit():
            lo = hi = int(token)
        else:
            raise _malformed(text, f"{token!r} is neither a size nor a range (lo..hi or lo..)")
        if lo <= 0 or (hi is not None and hi < lo):
            raise _malformed(text, f"{token!r} needs 0 < lo <= hi")
        ranges.append((lo, hi))
    _check_size(text, [hi if hi is not None else lo * UNBOUNDED_STAND_IN for lo, hi in ranges])
    return tuple(ranges)


def _choices(text: str, dims: str) -> tuple[tuple[int, ...], ...]:
    per_dim = []
    for token in dims.split("x"):
        found = _CHOICES.match(token)
        if found:
            per_dim.append([int(d) for d in found[1].split(",")])
        elif token.isdigit():
            per_dim.append([int(token)])
        else:
            raise _malformed(text, f"{token!r} is neither a size nor a set of sizes such as {{224,256}}")
        if len(set(per_dim[-1])) != len(per_dim[-1]):
            raise _malformed(text, f"{token!r} lists a size twice")
    count = int(np.prod([len(c) for c in per_dim], dtype=np.float64))
    if count > MAX_ENUMERATED:
        raise _malformed(text, f"{count} shapes, more than {MAX_ENUMERATED}; give a range (lo..hi) instead")
    return _enumerated(text, list(itertools.product(*per_dim)))


def _enumerated(text: str, shapes: list[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    if any(d <= 0 for shape in shapes for d in shape):
        raise _malformed(text, "every dimension must be a positive integer")
    if len(set(shapes)) != len(shapes):
        raise _malformed(text, "a shape is listed twice")
    if len(shapes) > MAX_ENUMERATED:
        raise _malformed(
            text, f"{plural(shapes, 'shape')}, more than {MAX_ENUMERATED}; give a range (lo..hi) instead"
        )
    for shape in shapes:
        _check_size(text, shape)
    return tuple(shapes)


def parse_input_spec(text: str) -> tuple[str | None, tuple[int, ...]]:
    """``"x:1x3x256x256"`` -> ("x", (1, 3, 256, 256)); the name may be omitted for single-input models.
    A flexible spec gives its default shape (see ``parse_flexible_spec``); a trailing ``:DTYPE`` is
    left to ``split_dtype``."""
    flexible = parse_flexible_spec(text)
    if flexible is not None:
        return flexible[0], flexible[1].default
    match = _SPEC.match(split_dtype(text)[0].strip())
    if not match:
        raise _malformed(text)
    dims = tuple(int(d) for d in re.split(r"[x,]", match["dims"]))
    if any(d <= 0 for d in dims):
        raise UsageError(f"malformed --input {_shown(text)}: every dimension must be a positive integer")
    _check_size(text, dims)
    return match["name"], dims


def parse_flexible_specs(texts: list[str] | None) -> dict[str | None, FlexibleShape]:
    """The flexible ``--input`` specs by input name (None: the single unnamed input)."""
    found = {}
    for text in texts or []:
        flexible = parse_flexible_spec(text)
        if flexible is not None:
            found[flexible[0]] = flexible[1]
    return found


def parse_input_specs(texts: list[str] | None) -> dict[str | None, tuple[int, ...] | TensorSpec]:
    """The ``--input`` specs by name (None: the single unnamed input), as ``convert(inputs=...)``
    takes them: the shape, or a ``TensorSpec`` when the spec names a dtype."""
    found: dict[str | None, tuple[int, ...] | TensorSpec] = {}
    for text in texts or []:
        name, dims = parse_input_spec(text)
        if name in found:
            raise UsageError(f"--input {name or '(unnamed)'} given twice")
        dtype = split_dtype(text)[1]
        found[name] = dims if dtype is None else TensorSpec(dims, dtype)
    return found


def given_once(given: dict, name: str, unnamed: tuple[int, ...]) -> None:
    """An unnamed ``--input`` names the model's only input: refused when that input is named too,
    or which shape bridgec uses would depend on the order of the flags."""
    if name in given:
        shown = "x".join(map(str, given[name]))
        raise UsageError(
            f"--input {name} is given twice: as {name}:{shown} and unnamed as {'x'.join(map(str, unnamed))} "
            "(the model's only input); give it once"
        )


def resolve(given: dict[str | None, tuple[int, ...]] | None, names: list[str]) -> InputShapes:
    """Match user-given shapes to the model's input names; an unnamed shape needs exactly one input."""
    given = dict(given or {})
    if None in given:
        if len(names) != 1:
            raise UsageError(
                f"the model has {plural(names, 'input')} ({', '.join(names)}); name each one: "
                f"--input {names[0] if names else 'x'}:1x3x224x224"
            )
        shape = given.pop(None)
        given_once(given, names[0], shape)
        given[names[0]] = shape
    unknown = [n for n in given if n not in names]
    if unknown:
        raise UsageError(
            f"--input names {', '.join(map(str, unknown))} are not inputs of the model "
            f"(its inputs: {', '.join(names) or 'none'})"
        )
    return {k: v for k, v in given.items() if k is not None}
