"""Which of the user's files a run may touch: bridgec writes or replaces only what it was asked to
write, and deletes only what it wrote itself. (How it writes them, all at once or not at all, is
``bridgec.driver.output``.)

- ``check_claims``: no output may be the input model, a file given to read (``--check-input``,
  ``--labels``, ...) or another output, however it is spelled (symlinks, hard links, ``./x``).
- ``package_problem``: only a real Core ML package (a ``Manifest.json`` naming a root model that is
  there, and nothing else beside ``Data/``) is replaced by a new ``.mlpackage``.
- ``kernels_problem``: a ``*_kernels`` folder is replaced or removed only when its marker says bridgec
  wrote it for this model and every file in it is still the one bridgec wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bridgec.core.errors import UsageError

KERNELS_MARKER = ".bridgec-kernels"
_OS_LITTER = {".DS_Store"}  # Finder writes it into any folder it shows: not a user file to protect


def real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def through_link(path: Path) -> Path:
    """Writing to a symlink replaces what it points to; the link stays."""
    return real(path) if path.is_symlink() else path


def kernels_dir_for(output: Path) -> Path:
    return output.with_name(f"{output.stem}_kernels")


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


def kernels_marker(folder: Path, model_name: str) -> str:
    """The marker of a kernels folder: which model it serves, and each file's hash, so that a file
    the user added or edited is never replaced or deleted."""
    lines = [f"written by bridgec; replaced on every conversion of {model_name}", f"model: {model_name}"]
    lines += [f"file: {_digest(p)} {p.name}" for p in sorted(folder.iterdir()) if p.name != KERNELS_MARKER]
    return "\n".join(lines) + "\n"


def kernels_problem(folder: Path, model_name: str, known: set[str]) -> str | None:
    """None when ``folder`` is the kernels folder bridgec wrote for ``model_name`` and unchanged since,
    so it may be replaced or removed; else why not. ``known``: the file names bridgec writes there
    (what a marker from before the file list was recorded is checked against)."""
    if folder.is_symlink() or not folder.is_dir():
        return "it is not a folder bridgec wrote"
    try:
        lines = (folder / KERNELS_MARKER).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return f"bridgec did not write it (it has no {KERNELS_MARKER})"
    owner = next((line[len("model: ") :] for line in lines if line.startswith("model: ")), None)
    if owner is None and lines:  # the marker's first form had only its first line
        owner = lines[0].partition("conversion of ")[2].strip()
    if owner != model_name:
        return f"it holds the kernels of {owner or 'another model'}"
    recorded = {}
    for line in lines:
        digest, _, name = line.removeprefix("file: ").partition(" ")
        if line.startswith("file: ") and name:
            recorded[name] = digest
    for entry in sorted(folder.iterdir()):
        if entry.name in _OS_LITTER or entry.name == KERNELS_MARKER:
            continue
        if entry.is_symlink() or not entry.is_file() or entry.name not in (recorded or known):
            return f"it holds {entry.name}, which bridgec did not write"
        if recorded and _digest(entry) != recorded[entry.name]:
            return f"its {entry.name} was changed after bridgec wrote it"
    return None
