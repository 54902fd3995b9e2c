"""User passes: from installed packages (entry point group ``bridgec.passes``) or a file (``--load-passes``).

Loading a module is enough: its ``@register`` decorators add the passes, and a pass whose class
declares ``extends = ("lower", "lower-custom")`` joins those ``-O`` pipelines by its ``after``/
``before`` constraints.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from bridgec.core.errors import UsageError

GROUP = "bridgec.passes"
_loaded_entry_points = False


def load_entry_points() -> list[str]:
    """Import every ``bridgec.passes`` entry point once; returns their names."""
    global _loaded_entry_points
    names: list[str] = []
    if _loaded_entry_points:
        return names
    _loaded_entry_points = True
    for point in entry_points(group=GROUP):
        try:
            point.load()
        except SystemExit as exc:  # a plugin may not end the run, silently and with any status
            raise UsageError(
                f"pass plugin {point.name!r} ({point.value}) called sys.exit({exc.code!r}) while loading; a "
                "plugin module must only define and register passes"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not look like a bridgec bug
            raise UsageError(f"pass plugin {point.name!r} ({point.value}) failed to load: {exc}") from None
        names.append(point.name)
    return names


def load_file(path: str | Path) -> None:
    """Import a Python file that registers passes (``--load-passes``)."""
    from bridgec.core.input_files import read_bytes, shown

    path = Path(path)
    label = f"--load-passes {shown(path)}"
    # read through a checked descriptor (a pipe or device named here would hang the import)
    source = read_bytes(path, label, limit=64 << 20)
    name = f"bridgec_user_passes_{path.stem}_{abs(hash(path.resolve())) % 10**8}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(compile(source, os.fsdecode(path), "exec", dont_inherit=True), module.__dict__)
    except SystemExit as exc:  # the file may not end the run, silently and with any status
        del sys.modules[name]
        raise UsageError(
            f"{label}: the file called sys.exit({exc.code!r}) while loading; a pass file must only define "
            "and register passes (raise an exception to report a problem)"
        ) from None
    except Exception as exc:  # noqa: BLE001
        del sys.modules[name]
        raise UsageError(f"{label}: {type(exc).__name__}: {exc}") from None
