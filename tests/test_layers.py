"""bridgec's imports go one way (core < runtime_kernels < passes < frontends | backends < driver) and
never in a circle: ``tools/import_layers.py`` checks the source tree, lazy imports included."""

from __future__ import annotations

from pathlib import Path

from tools import import_layers


def test_imports_follow_the_layers_without_cycles():
    assert import_layers.violations() == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_finds_an_upward_lazy_import_and_a_cycle(tmp_path, monkeypatch):
    """A tree with one import of each kind: only the upward one inside a function and the circle
    between two passes are reported; a downward import and one for type checkers only are not."""
    _write(
        tmp_path,
        {
            "bridgec/__init__.py": "",
            "bridgec/core/__init__.py": "",
            "bridgec/core/low.py": (
                "from typing import TYPE_CHECKING\n"
                "\n"
                "if TYPE_CHECKING:\n"
                "    from bridgec.driver import top\n"
                "\n"
                "\n"
                "def f():\n"
                "    from bridgec.passes import high\n"
                "\n"
                "    return high\n"
            ),
            "bridgec/driver/__init__.py": "",
            "bridgec/driver/top.py": "from bridgec.core import low\n",
            "passes/__init__.py": "",
            "passes/high.py": "",
            "passes/a.py": "from bridgec.passes import b\n",
            "passes/b.py": "def g():\n    from bridgec.passes.a import X\n\n    return X\n",
        },
    )
    monkeypatch.setattr(import_layers, "ROOT", tmp_path)
    monkeypatch.setattr(import_layers, "FOLDERS", {"bridgec": "bridgec", "bridgec.passes": "passes"})
    assert import_layers.violations() == [
        "bridgec/core/low.py:8: bridgec.core.low (bridgec.core) imports bridgec.passes.high from above",
        "import cycle: bridgec.passes.a -> bridgec.passes.b -> bridgec.passes.a",
    ]
