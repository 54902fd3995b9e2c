"""How bridgec writes: every output of a run appears all at once or not at all, and Ctrl-C or SIGTERM
never leaves one half-written.

- ``write_outputs``: the write stage of a conversion. The model, its kernels folder and the other
  files (the reports) are staged beside their destinations and renamed in one go, with the signals
  held until the last rename; which paths it may replace is decided in ``bridgec.driver.files``.
- ``Staging``: what a run is about to put in place waits in one hidden folder per destination folder,
  marked with the process that made it; the earlier version of a replaced folder is moved in there
  too (never to a name the user could own), and the next run removes the folders of dead processes.
- ``write_file``: one file written the same way (``--report-out`` of ``bridgec report``, ...).
- ``PrivateTemp``: the temporary files of bridgec and its libraries go to one folder per run, removed
  however the run ends.
- ``run_guarded``: runs a command with SIGTERM unwinding like Ctrl-C, and turns an interrupt into
  exit status 130 and the one line that says what was written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bridgec.core import interrupts
from bridgec.core.errors import UsageError
from bridgec.driver import files, kernels_folder
from bridgec.driver.file_modes import follow_umask

if TYPE_CHECKING:
    from bridgec.backends.coreml.model import BuiltModel

STAGING_PREFIX = ".bridgec-staging-"
STAGING_MARKER = ".bridgec-staging"
COMMITTED: list[Path] = []  # models this process put in place (an interrupt after that loses nothing)


# --- interrupts -------------------------------------------------------------------------------------


def run_guarded(command: Callable[[], int], own_process: bool) -> int:
    """``command()``'s exit status, or 130 when Ctrl-C or SIGTERM ended it (after saying whether the
    outputs were already in place). SIGTERM unwinds like Ctrl-C, so staged outputs and temporary
    files are removed either way. Both are recorded (``interrupts.received``): a library that
    swallowed the KeyboardInterrupt, or turned it into an error of its own (an extension module
    interrupted while importing raises ImportError), still ends the run as interrupted."""
    interrupts.received.clear()
    COMMITTED.clear()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, interrupts.handler) for sig in interrupts.SIGNALS}
    scratch = None
    code = None
    try:
        with interrupts.deferred():  # the folder exists only once ``scratch`` holds it for removal
            scratch = PrivateTemp()
        code = command()
    except KeyboardInterrupt:
        # Outputs are staged under temporary names and renamed last; the finally blocks that
        # ran on the way here removed the staged files, so nothing half-written is left.
        pass
    finally:
        # the command has decided its exit status: a signal now would only cut the cleanup short
        for sig in previous or {}:
            signal.signal(sig, signal.SIG_IGN)
        if scratch is not None:
            scratch.close()
        for sig, handler in (previous or {}).items():
            signal.signal(sig, signal.SIG_IGN if own_process else handler)
    if code is None:
        code = _interrupted()
    if not own_process:
        interrupts.received.clear()
    return code


def _interrupted() -> int:
    if COMMITTED:  # the signal came after the outputs were renamed into place: they are whole
        print(f"bridgec: interrupted; {COMMITTED[-1]} was already written completely", file=sys.stderr)
    else:
        print(interrupts.MESSAGE, file=sys.stderr)
    return 130


# --- the write stage --------------------------------------------------------------------------------


@dataclass
class Written:
    """Where the write stage put the model and the kernels its custom layers need."""

    model_path: Path
    kernels_dir: Path | None = None
    kernel_files: list[Path] = field(default_factory=list)


def write_outputs(
    model: BuiltModel,
    output: Path,
    extra: Mapping[Path, bytes] | None = None,
    claims: Sequence[files.Claim] = (),
) -> Written:
    """Stage ``model`` at ``output``, the kernels folder of its custom layers and the ``extra`` files
    (path -> bytes, e.g. the JSON report) beside their destinations, then rename them all in one go.
    None of them may touch a path of ``claims`` (the inputs, the other outputs)."""
    files.check_claims(claims)
    try:
        return _stage_and_swap(model, output, extra or {})
    except OSError as exc:
        where = exc.filename or output
        raise UsageError(f"{where}: cannot write it ({exc.strerror or type(exc).__name__})") from None


def _stage_and_swap(model: BuiltModel, output: Path, extra: Mapping[Path, bytes]) -> Written:
    target = files.through_link(output)
    destinations = {files.through_link(Path(path)): data for path, data in extra.items()}
    for folder in {target.parent, *(path.parent for path in destinations)}:
        # first, so that what a killed run had moved aside is back before anything is judged
        clean_stale(folder)
    if model.format == "coreai":  # an .aimodel is a folder too: replaced only if it is one
        if os.path.lexists(target) and not (target / "main.mlirb").is_file():
            raise UsageError(
                f"{output} exists and is not a Core AI model (no main.mlirb); move it away or choose -o"
            )
    elif model.format == "mlprogram":
        problem = files.package_problem(target) if os.path.lexists(target) else None
        if problem:
            raise UsageError(
                f"{output} exists and is not a Core ML package ({problem}); move it away or choose -o"
            )
    elif target.is_dir():
        raise UsageError(f"-o {output}: is a directory; name the .mlmodel file to write")
    for path in destinations:
        if path.is_dir():
            raise UsageError(f"{path}: is a directory; name a file to write")
    # the kernels folder is shared by the models of the folder: rewritten with every model's classes,
    # removed when none needs it, left alone when bridgec did not write it or the user changed it
    kernels = kernels_folder.plan(model, target)
    stagings: dict[Path, Staging] = {}

    def staging(folder: Path) -> Staging:
        if folder not in stagings:
            with interrupts.deferred():  # made and recorded for removal in one step
                stagings[folder] = Staging(folder)
        return stagings[folder]

    try:
        model.save(staging(target.parent).new(target.name))
        for path, data in destinations.items():
            staging(path.parent).new(path.name).write_bytes(data)
        if kernels and not kernels.remove:
            kernels_folder.stage(kernels, staging(kernels.folder.parent).new(kernels.folder.name))
        # Everything is staged: now swap it in, with Ctrl-C and SIGTERM held until the swap is done
        # (between the renames the kernels folder would be missing or not match the model).
        with interrupts.deferred():
            interrupts.checkpoint()  # an interrupt a library swallowed: nothing goes in place
            if kernels and kernels.remove:
                staging(kernels.folder.parent).put_aside(kernels.folder.name)
            elif kernels:
                staging(kernels.folder.parent).put(kernels.folder.name)
                kernels_folder.carry_tool_state(
                    staging(kernels.folder.parent).old(kernels.folder.name), kernels.folder
                )
            staging(target.parent).put(target.name)
            for path in destinations:
                staging(path.parent).put(path.name)
            COMMITTED.append(output)
    finally:
        with interrupts.deferred():  # a removal cut short would leave the staging folders behind
            for folder in stagings.values():
                folder.remove()
    if kernels and not kernels.remove:
        written = [rel for rel in files.walk(kernels.folder) if rel.split("/")[0] not in files.TOOL_STATE]
        return Written(output, kernels.folder, [kernels.folder / rel for rel in written])
    return Written(output)


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
        """Rename ``new/NAME`` to ``folder/NAME``, with the modes the umask gives (``tempfile`` and
        coremltools made parts of it 0600/0700); an existing folder there is moved aside first."""
        follow_umask(self.new(name))
        destination = self.folder / name
        if destination.is_dir() and not destination.is_symlink():
            os.replace(destination, self.root / "old" / name)
        os.replace(self.new(name), destination)

    def old(self, name: str) -> Path:
        """Where ``put`` moved the folder ``folder/NAME`` it replaced (deleted with the staging folder)."""
        return self.root / "old" / name

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
    destination = files.real(path)
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
