"""The user's files: bridgec writes or replaces only what it was asked to write, and deletes only
what it wrote itself.

- ``check_claims``: no output may be the input model, a file given to read (``--check-input``,
  ``--labels``, ...) or another output, however it is spelled (symlinks, hard links, ``./x``).
- ``package_problem``: only a real Core ML package (a ``Manifest.json`` naming a root model that is
  there, and nothing else beside ``Data/``) is replaced by a new ``.mlpackage``.
- ``kernels_problem``: a ``*_kernels`` folder is replaced or removed only when its marker says bridgec
  wrote it for this model and every file in it is still the one bridgec wrote.
- ``Staging``: what a run is about to put in place waits in one hidden folder per destination folder,
  marked with the process that made it; the earlier version of a replaced folder is moved in there
  too (never to a name the user could own), and the next run removes the folders of dead processes.
- ``PrivateTemp``: the temporary files of bridgec and its libraries go to one folder per run, removed
  however the run ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bridgec.core import interrupts
from bridgec.core.errors import UsageError

KERNELS_MARKER = ".bridgec-kernels"
STAGING_PREFIX = ".bridgec-staging-"
STAGING_MARKER = ".bridgec-staging"
_OS_LITTER = {".DS_Store"}  # Finder writes it into any folder it shows: not a user file to protect
_DUMPED = re.compile(r"\d{2,}_.*\.(onnx|graphml)")  # the names dump_stem gives, with DumpDir's suffixes


def dump_stem(count: int, label: str) -> str:
    """The file name (without suffix) --dump-dir gives the graph after pass number ``count``; kept here,
    beside the pattern that protects the user's files from those names."""
    return f"{count:02d}_{label.replace('::', '.')}"


def real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


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
    if a.kind == "dump" and _inside(b.path, a.path) and _DUMPED.fullmatch(b.path.name):
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


# --- staging --------------------------------------------------------------------------------------


def _process_start(pid: int) -> str | None:
    """When ``pid`` started (Linux: /proc), so a pid reused by another process is told apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": _process_start(os.getpid())}


def _dead(owner: object) -> bool:
    """Whether the process that made a staging folder is gone (on this host; elsewhere: unknown)."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, another user's
        return False
    start = owner.get("start")
    now = _process_start(pid)
    return start is not None and now is not None and now != start  # the pid was reused


class Staging:
    """A hidden folder inside ``folder`` (so renames out of it are atomic) holding what this run puts
    in place there: ``new/NAME`` becomes ``folder/NAME``; a replaced folder is moved to ``old/NAME``
    and deleted with the staging folder, so no name outside it is ever used or deleted."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale(folder)
        self.folder = folder
        self.root = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
        (self.root / STAGING_MARKER).write_text(json.dumps(_owner()) + "\n")
        (self.root / "new").mkdir()
        (self.root / "old").mkdir()

    def new(self, name: str) -> Path:
        return self.root / "new" / name

    def put(self, name: str) -> None:
        """Rename ``new/NAME`` to ``folder/NAME``; an existing folder there is moved aside first."""
        destination = self.folder / name
        if destination.is_dir() and not destination.is_symlink():
            os.replace(destination, self.root / "old" / name)
        os.replace(self.new(name), destination)

    def put_aside(self, name: str) -> None:
        """Remove ``folder/NAME`` (a folder bridgec wrote) together with the staging folder."""
        os.replace(self.folder / name, self.root / "old" / name)

    def remove(self) -> None:
        _remove_staging(self.root)


def _remove_staging(root: Path) -> None:
    # the marker goes last: a removal cut short still leaves a folder the next run recognises
    for part in ("new", "old"):
        shutil.rmtree(root / part, ignore_errors=True)
    (root / STAGING_MARKER).unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)


def clean_stale(folder: Path) -> None:
    """Remove the staging folders in ``folder`` that a killed bridgec left (marker, dead process); a
    folder it had moved aside and not yet replaced goes back to its place."""
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(STAGING_PREFIX)]
    except OSError:
        return
    for entry in entries:
        root = Path(entry.path)
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            owner = json.loads((root / STAGING_MARKER).read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue  # not a folder bridgec made: not bridgec's to delete
        if not _dead(owner):
            continue  # another bridgec is writing here right now
        try:
            old = root / "old"
            for aside in sorted(old.iterdir()) if old.is_dir() else []:
                if not os.path.lexists(folder / aside.name):
                    os.replace(aside, folder / aside.name)
        except OSError:
            continue  # what cannot be put back is not deleted either
        _remove_staging(root)


def write_file(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` in one rename, through a symlink to the file it points to."""
    destination = real(path)
    if destination.is_dir():
        raise UsageError(f"{path}: is a directory; name a file to write")
    staging = None
    try:
        with interrupts.deferred():  # made and recorded for removal in one step
            staging = Staging(destination.parent)
        staging.new(destination.name).write_bytes(data)
        with interrupts.deferred():
            staging.put(destination.name)
    except OSError as exc:
        raise UsageError(
            f"{exc.filename or path}: cannot write it ({exc.strerror or type(exc).__name__})"
        ) from None
    finally:
        if staging is not None:
            with interrupts.deferred():  # a removal cut short would leave the staging folder behind
                staging.remove()


# --- temporary files --------------------------------------------------------------------------------

_TEMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")


TEMP_PREFIX = "bridgec-"
TEMP_MARKER = ".bridgec-temp"


class PrivateTemp:
    """A temporary folder for this run, which ``tempfile`` and child processes use (coremltools'
    ``tmp*.mlpackage``, onnxruntime's and the exporters' files, torch's inductor cache unless its
    variable is set): ``close()`` removes it, however the run ended, and restores the settings. The
    folders of runs that were killed outright (marker, dead process) are removed when the next starts."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._environ: dict[str, str | None] = {}
        self._tempdir = tempfile.tempdir
        try:
            _clean_stale_temps(Path(tempfile.gettempdir()))
            self.path = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
            (self.path / TEMP_MARKER).write_text(json.dumps(_owner()) + "\n")
        except OSError:
            return  # no writable temporary folder: the libraries would fail the same way, with a message
        values = dict.fromkeys(_TEMP_VARIABLES, str(self.path))
        if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
            values["TORCHINDUCTOR_CACHE_DIR"] = str(self.path / "torchinductor")
        for name, value in values.items():
            self._environ[name] = os.environ.get(name)
            os.environ[name] = value
        tempfile.tempdir = str(self.path)

    def close(self) -> None:
        if self.path is None:
            return
        for name, value in self._environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        tempfile.tempdir = self._tempdir
        shutil.rmtree(self.path, ignore_errors=True)
        self.path = None


def _clean_stale_temps(folder: Path) -> None:
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(TEMP_PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and _dead(
                json.loads(Path(entry.path, TEMP_MARKER).read_text())
            ):
                # the marker goes last: a removal cut short is finished by the next run
                for item in os.scandir(entry.path):
                    if item.name != TEMP_MARKER:
                        if item.is_dir(follow_symlinks=False):
                            shutil.rmtree(item.path, ignore_errors=True)
                        else:
                            os.unlink(item.path)
                shutil.rmtree(entry.path, ignore_errors=True)
        except (OSError, ValueError, UnicodeDecodeError):
            continue  # not a folder bridgec made, or not one it may remove
