"""The files bridgec reads: regular files only, looked at before they are opened.

A named pipe blocks whoever opens it until a writer comes, and ``/dev/zero`` or ``/dev/urandom``
never end: read whole, they grow until the kernel kills the process. So every file a user names (the
model, ``--check-input``, ``--labels``, ``--load-passes``, ``verify --inputs``, ONNX external data)
is ``stat``-ed first and refused, in one line, unless it is a regular file; and the files bridgec
opens itself are opened without blocking and checked again through the open descriptor, so a file
swapped for a pipe between the two looks is refused too.

``label`` in these functions is how messages name the file: the model's path, or the flag and its
value as given (``--check-input x=a.npy``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from bridgec.core.errors import UsageError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def shown(path: str | os.PathLike) -> str:
    """``path`` for a message: a name that is not UTF-8 keeps its bytes as ``\\xff`` escapes (a
    surrogate-escaped name would fail to print on a strict UTF-8 terminal)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _refuse(label: str, mode: int, model: bool) -> UsageError:
    if stat.S_ISDIR(mode):
        return UsageError(f"{label}: is a directory, not {'a model file' if model else 'a file'}")
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    # a pipe would block the run until a writer comes, and a device like /dev/zero never ends
    return UsageError(
        f"{label}: is {kind}, not a regular file; bridgec reads only regular files (save the data to a "
        "file first)"
    )


def _failed(label: str, exc: OSError) -> UsageError:
    if isinstance(exc, FileNotFoundError):
        return UsageError(f"{label}: no such file")
    return UsageError(f"{label}: cannot read it ({exc.strerror or type(exc).__name__})")


def regular_file(path: str | os.PathLike, label: str | None = None) -> Path:
    """``path`` if it names a regular file (symlinks followed); a one-line UsageError otherwise.
    Nothing is opened: ``stat`` does not block on a pipe."""
    model = label is None
    label = label or shown(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise _failed(label, exc) from None
    if not stat.S_ISREG(mode):
        raise _refuse(label, mode, model)
    return Path(path)


def open_regular(path: str | os.PathLike, label: str | None = None) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file. It is opened without blocking
    (a pipe put in its place after the ``stat`` would block a plain open) and checked again through
    the descriptor, so what is read is what was checked."""
    regular_file(path, label)
    model = label is None
    label = label or shown(path)
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _failed(label, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(label, mode, model)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike, label: str | None = None, limit: int | None = None) -> bytes:
    """The whole regular file at ``path``; one of more than ``limit`` bytes is refused unread."""
    label_ = label or shown(path)
    with open_regular(path, label) as handle:
        size = os.fstat(handle.fileno()).st_size
        if limit is not None and size > limit:
            raise UsageError(f"{label_}: {size:,} bytes, more than the {limit:,} such a file may have")
        try:
            data = handle.read(-1 if limit is None else limit + 1)
        except OSError as exc:
            raise _failed(label_, exc) from None
    if limit is not None and len(data) > limit:  # it grew while being read
        raise UsageError(f"{label_}: more than the {limit:,} bytes such a file may have")
    return data


# --- numpy files -------------------------------------------------------------------------------------


def _npy_claim(stream, available: int, label: str) -> None:
    """Refuse a ``.npy`` whose header claims more elements than bridgec allows or more bytes than
    ``available``: numpy allocates the whole array from the header before it reads the data."""
    import numpy as np

    from bridgec.core.sizes import elements, too_big

    fmt = np.lib.format
    try:
        start = stream.tell()
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(stream)
        else:
            shape, _, dtype = fmt._read_array_header(stream, version)  # 3.0: no public reader
        header = stream.tell() - start
    except Exception as exc:  # noqa: BLE001 - numpy raises ValueError, OSError, SyntaxError...
        raise UsageError(
            f"{label}: not a readable .npy array ({(str(exc).splitlines() or [''])[0][:120]})"
        ) from None
    why = too_big(shape)
    if why:
        raise UsageError(f"{label}: an array of shape {tuple(shape)}: {why}")
    needed = elements(shape) * dtype.itemsize
    if not dtype.hasobject and needed > available - header:
        raise UsageError(
            f"{label}: its header claims shape {tuple(shape)} ({needed:,} bytes) but the file holds "
            f"{max(0, available - header):,}; the file is truncated or damaged"
        )


def read_npy(path: str | os.PathLike, label: str):
    """The array in the ``.npy`` file ``path``, its claimed size checked before numpy allocates it."""
    import numpy as np

    with open_regular(path, label) as handle:
        size = os.fstat(handle.fileno()).st_size
        if handle.read(4) == b"PK\x03\x04":
            raise UsageError(f"{label}: an .npz archive; give one .npy array per input (NAME=FILE.npy)")
        handle.seek(0)
        _npy_claim(handle, size, label)
        handle.seek(0)
        try:
            return np.load(handle, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise UsageError(
                f"{label}: not a readable .npy array ({(str(exc).splitlines() or [''])[0][:120]})"
            ) from None


def read_npz(path: str | os.PathLike, label: str) -> dict:
    """The arrays of the ``.npz`` file ``path`` by name, each one's claimed size checked before
    numpy allocates it."""
    import zipfile

    import numpy as np

    with open_regular(path, label) as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                for info in archive.infolist():
                    if info.filename.endswith(".npy"):
                        with archive.open(info) as member:
                            _npy_claim(member, info.file_size, f"{label} ({info.filename})")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as data:
                return {k: np.asarray(data[k]) for k in data.files}
        except UsageError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise UsageError(
                f"{label}: not a readable .npz file ({(str(exc).splitlines() or [''])[0][:120]})"
            ) from None
