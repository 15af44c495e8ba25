"""Files and folders only the service's own user may read (0600 / 0700).

What the service writes to disk is secret or personal: the SQLite database (and its WAL
and shared-memory files, which SQLite creates with the database file's mode), the secret
key, ``.eml`` files in the outbox holding live activation and password-reset links, and
spooled incoming mail. Created with the process's umask they were 0644/0755, readable by
anybody on the machine. So they are created private here, whatever the umask; the
``madoguchi`` command also sets umask 077 for anything a library creates on its own.
A folder that already existed is left as the operator made it; only what we create is
made private.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents, each created 0700; returns ``path``."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        folder.chmod(DIR_MODE)  # mkdir's mode is filtered through the umask
    return path


def create_private(path: Path) -> None:
    """An empty file 0600 unless it exists (SQLite then opens it and copies its mode
    to the ``-wal`` and ``-shm`` files)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.fchmod(fd, FILE_MODE)
    os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new or truncated file that is 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb", closefd=False) as out:
            out.write(data)
    finally:
        os.close(fd)
