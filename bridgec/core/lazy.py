"""Names a package's ``__init__`` hands out on first use, so that importing the package stays cheap
(``import bridgec`` and ``bridgec --help`` load no numpy, onnx or coremltools)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps each attribute to the module that
    defines it; the value is imported on first use and kept in the package's namespace. Any other
    name is an AttributeError, which lets ``from package import submodule`` import the submodule."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        namespace[name] = value
        return value

    return __getattr__
