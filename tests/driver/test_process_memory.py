"""The ``bridgec`` command keeps freed memory for reuse (glibc's mallopt: blocks up to 32 MiB from the
heap, no trimming); a MALLOC_* setting in the environment wins, and a Python caller's process
(``main(argv)``) is left alone."""

from __future__ import annotations

import ctypes

import pytest

from bridgec.driver import cli


class _Libc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

        def mallopt(option: int, value: int) -> int:
            self.calls.append((option, value))
            return 1

        self.mallopt = mallopt


@pytest.fixture
def libc(monkeypatch):
    fake = _Libc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake)
    for name in [n for n in cli.os.environ if n.startswith("MALLOC_") or n == "GLIBC_TUNABLES"]:
        monkeypatch.delenv(name)
    return fake


def test_blocks_up_to_32_mib_from_the_heap_and_no_trimming(libc):
    cli._keep_freed_memory()
    # glibc's malloc.h: M_MMAP_THRESHOLD -3, M_TRIM_THRESHOLD -1
    assert sorted(libc.calls) == [(-3, 32 * 1024 * 1024), (-1, 2**31 - 1)]


@pytest.mark.parametrize(
    ("name", "value"),
    [("MALLOC_TRIM_THRESHOLD_", "131072"), ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1")],
)
def test_the_environment_wins(libc, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    cli._keep_freed_memory()
    assert libc.calls == []


def test_a_libc_without_mallopt_is_left_alone(monkeypatch):
    def missing(name):
        raise OSError("no such library")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    cli._keep_freed_memory()  # no error


def test_a_python_caller_keeps_its_own_settings(libc, capsys):
    assert cli.main(["targets"]) == 0
    assert "iOS" in capsys.readouterr().out
    assert libc.calls == []
