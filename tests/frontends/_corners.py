"""Shared by the PyTorch corner-case matrices (tests/frontends/test_*_corners.py): run one traced
configuration through ``bridgec verify`` and hold it to "verified, or refused in one line naming the
op" — never a wrong model."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from bridgec.core.errors import BridgecError
from bridgec.driver.verify import verify


def outcome(path: Path, feeds: Path, format: str, shape: tuple[int, ...], **options) -> tuple[str, str]:
    """("passed" | "wrong" | "refused", detail) of ``path`` verified on the inputs in ``feeds``."""
    try:
        result = verify(path, inputs={"x": shape}, feeds_file=feeds, format=format, **options)
    except BridgecError as exc:
        return "refused", str(exc)
    if result.passed:
        return "passed", ""
    worst = max(result.comparisons, key=lambda c: (not c.passed, c.max_rel))
    return "wrong", f"{worst.runtime} {worst.output}: max rel err {worst.max_rel:.3g} {worst.note}"


def assert_verified_or_refused(
    name: str, format: str, found: tuple[str, str], may_refuse: Collection[str], ops: Collection[str]
) -> None:
    kind, detail = found
    assert kind != "wrong", f"{name} ({format}) converted to a wrong model: {detail}"
    if kind == "refused":
        assert name in may_refuse, f"{name} ({format}) was refused: {detail}"
        assert "\n" not in detail.strip(), f"a refusal is one line: {detail!r}"
        assert any(op in detail for op in ops), f"the refusal names no op: {detail}"
