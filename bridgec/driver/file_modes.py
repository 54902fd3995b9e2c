"""Outputs get the permissions the user's umask asks for, as a plain ``open()`` or ``mkdir`` would
give them (0644 and 0755 at umask 022, 0600 and 0700 at 077).

What bridgec writes is staged first, and parts of it are made by ``tempfile`` (0600 files, 0700
folders, whatever the umask: coremltools builds a package in a temporary folder and copies it) and
then renamed into place, so the write stage sets the modes of everything it is about to put in
place (``follow_umask``) instead of trusting how each library created it.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

_STATUS = Path("/proc/self/status")
_lock = threading.Lock()
_fallback: int | None = None


def umask() -> int:
    """The process's umask, read without changing it.

    ``os.umask`` can only be read by setting it (twice: to a value and back), and between the two
    calls another thread of the process would create files with the wrong mode, so Linux's
    ``/proc/self/status`` (its ``Umask:`` line, since Linux 4.7) is read instead: it is current (a
    caller may change the umask after bridgec was imported) and changes nothing. Elsewhere (macOS)
    the umask is read once by setting it, under a lock, and kept."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    global _fallback
    with _lock:
        if _fallback is None:
            _fallback = os.umask(0o022)
            os.umask(_fallback)
        return _fallback


def follow_umask(path: Path) -> None:
    """Give ``path`` (a file, or a folder and everything in it) the modes a fresh ``open()`` /
    ``mkdir`` would: 0666 and 0777 less the umask. Symbolic links are left as they are (their own
    mode means nothing on Linux, and following one could change a file bridgec did not write)."""
    mask = umask()
    file_mode, dir_mode = 0o666 & ~mask, 0o777 & ~mask
    top = os.lstat(path)
    if stat.S_ISLNK(top.st_mode):
        return
    if not stat.S_ISDIR(top.st_mode):
        os.chmod(path, file_mode)
        return
    # a folder gets its mode after its contents: at umask 0277 it would otherwise refuse entry
    for root, dirs, names in os.walk(path, topdown=False):
        for name in names:
            item = os.path.join(root, name)
            if not os.path.islink(item):
                os.chmod(item, file_mode)
        for name in dirs:
            item = os.path.join(root, name)
            if not os.path.islink(item):
                os.chmod(item, dir_mode)
    os.chmod(path, dir_mode)


__all__ = ["follow_umask", "umask"]
