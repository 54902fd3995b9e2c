"""The property tests' outcome counts are written when the session ends, in every xdist worker (an
atexit hook does not run in workers that execnet shuts down)."""

from __future__ import annotations


def pytest_sessionfinish(session) -> None:
    from tests.properties._harness import write_stats

    write_stats()
