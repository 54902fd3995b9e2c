"""``--json``: a command's result as one JSON object on stdout, for scripts.

Every subcommand that produces a result takes ``--json``. Its run happens inside ``json_stdout``:
whatever it prints meanwhile goes to stderr, so stdout holds exactly the one object ``emit_json``
writes (``"bridgec_version"``, ``"command"``, then the command's data), and is valid JSON whatever the
data holds (NaN and infinities become the strings "nan", "inf", "-inf"; numpy scalars, paths,
tuples and sets become JSON numbers, strings and lists). Errors stay one ``bridgec: error:`` line on
stderr and exit codes are unchanged."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

# the streams emit_json writes to: the stdout each json_stdout found before sending prints to stderr
_targets: list[TextIO] = []


@contextlib.contextmanager
def json_stdout(enabled: bool = True) -> Iterator[None]:
    """Within it, ``print`` goes to stderr and ``emit_json`` to the stdout it replaced (nothing
    changes when ``enabled`` is false: the command's human output stays on stdout)."""
    if not enabled:
        yield
        return
    _targets.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _targets.pop()


def plain(value: object) -> object:
    """``value`` as what ``json.dumps`` takes with ``allow_nan=False``."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, (set, frozenset)):
        return [plain(v) for v in sorted(value, key=str)]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (bool, str)) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar or 0-d array
        return plain(value.item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    return str(value)


def render_json(command: str, data: Mapping[str, object]) -> str:
    """The object ``emit_json`` prints: the version and command first, then ``data`` in its order."""
    from bridgec import __version__

    reserved = {"bridgec_version", "command"} & set(data)
    if reserved:
        raise ValueError(f"--json data may not set {sorted(reserved)}: emit_json adds them")
    return json.dumps(
        {"bridgec_version": __version__, "command": command, **plain(data)},  # type: ignore[dict-item]
        indent=2,
        allow_nan=False,  # plain() made every float finite: a NaN left would be a bug, not output
    )


def emit_json(command: str, data: dict) -> None:
    """Print ``command``'s result ``data`` as the one JSON object of stdout."""
    out = _targets[-1] if _targets else sys.stdout
    out.write(render_json(command, data) + "\n")
    out.flush()


__all__ = ["emit_json", "json_stdout", "plain", "render_json"]
