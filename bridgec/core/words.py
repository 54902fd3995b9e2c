"""Counts in messages read as English: "1 node", "2 nodes", never "1 nodes" or "node(s)"."""

from __future__ import annotations

from collections.abc import Sized


def noun(count: int | Sized, singular: str, plural: str | None = None) -> str:
    """``singular`` for one, else ``plural`` (default: ``singular`` + "s"); ``count`` may be a
    collection, whose length counts."""
    n = len(count) if isinstance(count, Sized) else int(count)
    return singular if n == 1 else plural or f"{singular}s"


def plural(count: int | Sized, singular: str, plural: str | None = None) -> str:
    """The count and the noun: ``plural(1, "node")`` is "1 node", ``plural(3, "node")`` "3 nodes",
    ``plural(2, "library", "libraries")`` "2 libraries"; a collection counts by its length."""
    n = len(count) if isinstance(count, Sized) else int(count)
    return f"{n} {noun(n, singular, plural)}"


__all__ = ["noun", "plural"]
