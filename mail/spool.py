"""One message's bytes on their way from DATA to the database: in memory while small, in
a temporary file once larger than a threshold.

Why: a hundred clients may each be in the middle of a 10 MiB message at once. Held in
memory, that is a gigabyte before anything is stored; spooled, it is a hundred small
buffers and a hundred files, and only the few messages being committed right now are
read back into memory (``mail.inbound.InboundStore`` bounds those by bytes). The
temporary files are unnamed (deleted from the directory at once), so a crash leaves
nothing behind; their directory should be on disk, not a RAM-backed tmpfs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO

from core.private_files import private_dir

__all__ = ["Spool"]


class Spool:
    """Bytes written in pieces; kept in memory up to ``threshold`` bytes, then moved to
    an unnamed temporary file in ``directory``. ``read()`` gives them back whole;
    ``close()`` frees the file (idempotent)."""

    __slots__ = ("_directory", "_file", "_pieces", "size", "threshold")

    def __init__(self, threshold: int, directory: Path | None = None) -> None:
        self.threshold = threshold
        self.size = 0
        self._directory = directory
        self._pieces: list[bytes] = []
        self._file: IO[bytes] | None = None

    @property
    def spooled(self) -> bool:
        """Are the bytes in a file (rather than in memory)?"""
        return self._file is not None

    def write(self, piece: bytes) -> None:
        if not piece:
            return
        self.size += len(piece)
        if self._file is not None:
            self._file.write(piece)
            return
        self._pieces.append(piece)
        if self.size > self.threshold:
            if self._directory is not None:
                private_dir(self._directory)
            self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 - closed by close()
            self._file.writelines(self._pieces)
            self._pieces = []

    def read(self) -> bytes:
        """The whole message as one ``bytes`` (one copy; from the file when spooled)."""
        if self._file is None:
            if len(self._pieces) != 1:
                self._pieces = [b"".join(self._pieces)]
            return self._pieces[0]
        self._file.flush()
        self._file.seek(0)
        return self._file.read()

    def close(self) -> None:
        self._pieces = []
        if self._file is not None:
            self._file.close()
            self._file = None
