"""Which of the user's files a run may touch: bridgec writes or replaces only what it was asked to
write, and deletes only what it wrote itself. (How it writes them, all at once or not at all, is
``bridgec.driver.output``.)

- ``check_claims``: no output may be the input model, a file given to read (``--check-input``,
  ``--labels``, ...) or another output, however it is spelled (symlinks, hard links, ``./x``).
- ``package_problem``: only a real Core ML package (a ``Manifest.json`` naming a root model that is
  there, and nothing else beside ``Data/``) is replaced by a new ``.mlpackage``.
- ``read_kernels``: the kernels folder (one per output folder, shared by its models) is rewritten or
  removed only when its marker says bridgec wrote it and every file in it is still the one bridgec
  wrote; the marker also records which model needs which classes, so no conversion drops a class
  another model needs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bridgec.core.errors import UsageError

KERNELS_MARKER = ".bridgec-kernels"
KERNELS_FOLDER = "bridgec_kernels"
_OS_LITTER = {".DS_Store"}  # Finder writes it into any folder it shows: not a user file to protect
# What SwiftPM and Xcode keep in a package they build or open: not bridgec's, and not to be deleted,
# but no reason to refuse the folder either: a rewrite carries them over into the new folder.
TOOL_STATE = (".build", ".swiftpm")


def real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def through_link(path: Path) -> Path:
    """Writing to a symlink replaces what it points to; the link stays."""
    return real(path) if path.is_symlink() else path


def kernels_dir_for(output: Path) -> Path:
    """The kernels folder of a model written at ``output``: one for all the models of its folder, so
    that an app compiles each custom layer class once (see docs/kernels-package.md)."""
    return output.with_name(KERNELS_FOLDER)


def _same(a: Path, b: Path) -> bool:
    if real(a) == real(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    return real(folder) in real(path).parents


# --- which paths a run reads and writes ------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A path a run reads or writes. ``kind``: "input" (read), "file" (written or replaced),
    "folder" (replaced whole: a .mlpackage, a kernels folder), "dump" (``NN_<pass>.onnx`` files are
    written into it)."""

    label: str  # how the message names it, e.g. "--report-json out.json", "the input model m.onnx"
    path: Path
    kind: str = "file"


def check_claims(claims: Iterable[Claim]) -> None:
    """Refuse (UsageError) when one output would write over another output or over an input."""
    claims = [c for c in claims if c.path is not None]
    for i, a in enumerate(claims):
        for b in claims[i + 1 :]:
            if a.kind == "input" and b.kind == "input":
                continue
            problem = _conflict(a, b) or _conflict(b, a)
            if problem:
                raise UsageError(problem)


def _dumped(name: str) -> bool:
    """Whether --dump-dir writes a file of this name (its naming is the pass instrument's)."""
    from bridgec.passes._instrument import DUMPED_NAME  # here, not on top: the command starts without passes

    return DUMPED_NAME.fullmatch(name) is not None


def _conflict(a: Claim, b: Claim) -> str | None:
    """What goes wrong when ``a`` (an output) is written while ``b`` is read or written, or None."""
    if a.kind == "input":
        return None
    if _same(a.path, b.path):
        if b.kind == "input":
            return f"{a.label} would overwrite {b.label}; name another output"
        return f"{a.label} and {b.label} are the same path; give each output its own"
    if a.kind == "folder" and _inside(b.path, a.path):
        return f"{b.label} is inside {a.label}, which bridgec replaces whole; put one of them elsewhere"
    if a.kind == "dump" and _inside(b.path, a.path) and _dumped(b.path.name):
        return f"{a.label} would write over {b.label} (it writes NN_<pass>.onnx files); choose another folder"
    return None


# --- what bridgec may replace ----------------------------------------------------------------------


def package_problem(folder: Path) -> str | None:
    """None when ``folder`` is a Core ML package (whoever wrote it, coremltools or bridgec), else why
    it is not: a folder that merely holds a Manifest.json may be anything."""
    if folder.is_symlink() or not folder.is_dir():
        return "it is not a folder"
    names = sorted({p.name for p in folder.iterdir()} - _OS_LITTER - {"Manifest.json", "Data"})
    if names:
        return f"it holds {names[0]}, which a Core ML package does not"
    try:
        manifest = json.loads((folder / "Manifest.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return "it has no readable Manifest.json"
    entries = manifest.get("itemInfoEntries") if isinstance(manifest, dict) else None
    root = manifest.get("rootModelIdentifier") if isinstance(manifest, dict) else None
    if not isinstance(entries, dict) or not isinstance(root, str) or not isinstance(entries.get(root), dict):
        return "its Manifest.json is not a Core ML package manifest"
    item = entries[root].get("path")
    if not isinstance(item, str) or not (folder / "Data" / item).is_file():
        return "the root model its Manifest.json names is not in it"
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kernels_marker(folder: Path, needs: Mapping[str, Mapping[str, list[str]]]) -> str:
    """The marker of a kernels folder: which model of the folder needs which classes (and from which
    OS releases it runs), and each file's hash, so that a file the user added or edited is never
    replaced or deleted."""
    files = {
        rel: _digest(folder / rel)
        for rel in walk(folder)
        if rel != KERNELS_MARKER and rel.split("/")[0] not in TOOL_STATE
    }
    marker = {"written_by": "bridgec", "models": {k: dict(v) for k, v in needs.items()}, "files": files}
    return json.dumps(marker, indent=1, sort_keys=True) + "\n"


def walk(folder: Path) -> list[str]:
    """Every entry below ``folder`` that is not a real folder, relative and "/"-separated, sorted."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            found += [f"{entry.name}/{rel}" for rel in walk(entry)] or [f"{entry.name}/"]
        else:
            found.append(entry.name)
    return found


def read_kernels(folder: Path) -> tuple[dict[str, dict[str, list[str]]], str | None]:
    """(what each model of the folder needs, None) when ``folder`` is a kernels folder bridgec wrote
    and unchanged since, so it may be rewritten or removed; else ({}, why not)."""
    if folder.is_symlink() or not folder.is_dir():
        return {}, "it is not a folder bridgec wrote"
    try:
        marker = json.loads((folder / KERNELS_MARKER).read_text())
        needs, recorded = marker["models"], marker["files"]
        if not isinstance(recorded, dict) or not all(
            isinstance(need.get("classes"), list) and isinstance(need.get("releases"), list)
            for need in needs.values()
        ):
            raise TypeError
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return {}, f"bridgec did not write it (it has no readable {KERNELS_MARKER})"
    for rel in walk(folder):
        if rel == KERNELS_MARKER or rel.split("/")[-1] in _OS_LITTER or rel.split("/")[0] in TOOL_STATE:
            continue
        path = folder / rel
        if rel not in recorded or path.is_symlink() or not path.is_file():
            return {}, f"it holds {rel}, which bridgec did not write"
        if _digest(path) != recorded[rel]:
            return {}, f"its {rel} was changed after bridgec wrote it"
    return needs, None
