"""DATA as it arrives: where the message ends, dot-unstuffing, SIZE and over-long lines,
decided chunk by chunk while the bytes go into a ``Spool``.

Why streaming: the whole message was held (and copied twice more to unstuff it) before
anything was decided, so forty 10 MiB messages in flight took over a gigabyte. Here each
chunk is decided and handed on as it comes, and no more than two bytes of it are held
back (a CR, or a CRLF that a dot on the next chunk may follow).

The decisions are exactly those of ``mail.smtp_protocol.CappedSMTP``'s former
whole-message reader, which tests/unit/test_smtp_data.py compares with aiosmtpd's line
reader: a ``.\\r\\n`` ends the message when it starts a line; the data (dot-stuffed,
without the final ``.\\r\\n``) over ``size_limit`` is too large; a line over
``line_limit`` (with its CRLF) counts only when the data as a whole is over it too; a
line's leading dot goes (lines end at CRLF only).
"""

from __future__ import annotations

from mail.spool import Spool

__all__ = ["IncomingData"]


class IncomingData:
    """One message's DATA, fed in chunks by the protocol's reader.

    ``take(chunk, candidate)`` takes the next chunk; ``candidate`` says the read stopped
    at a ``.\\r\\n`` (which ends the message if it starts a line). It returns ``True``
    when the message ended. Then ``too_large`` and ``long_line`` say what to answer;
    otherwise the unstuffed message is in ``spool``.
    """

    __slots__ = (
        "_at_start",
        "_carry",
        "_line",
        "_tail",
        "line_limit",
        "long_line",
        "size_limit",
        "spool",
        "too_large",
        "total",
    )

    def __init__(self, spool: Spool, *, size_limit: int | None, line_limit: int) -> None:
        self.spool = spool
        self.size_limit = size_limit
        self.line_limit = line_limit
        self.total = 0  # dot-stuffed bytes of the message (without the final ".\r\n")
        self.too_large = False
        self.long_line = False  # some line (with CRLF) is over line_limit
        self._tail = b""  # the last two bytes taken: does the next ".\r\n" start a line?
        self._carry = b""  # held back: "\r" or "\r\n" at a chunk's end
        self._line = 0  # length of the line taken so far
        self._at_start = True

    def take(self, chunk: bytes, candidate: bool) -> bool:
        ended = False
        if candidate:
            body = chunk[:-3]
            before = body[-2:] if len(body) >= 2 else (self._tail + body)[-2:]
            if before == b"\r\n" or (self.total == 0 and not body):
                chunk, ended = body, True
        self.total += len(chunk)
        self._tail = chunk[-2:] if len(chunk) >= 2 else (self._tail + chunk)[-2:]
        if self.too_large:
            return ended
        if self.size_limit and self.total > self.size_limit:
            # Too much: read on to the end, keep nothing.
            self.too_large = True
            self.spool.close()
            return ended
        self._put(self._carry + chunk if self._carry else chunk, final=ended)
        if ended and self._line + 2 > self.line_limit:
            self.long_line = True
        return ended

    def _put(self, buf: bytes, *, final: bool) -> None:
        cut = len(buf)
        if not final:
            # A CRLF (or CR) at the end may be followed by a dot in the next chunk.
            if buf.endswith(b"\r\n"):
                cut -= 2
            elif buf.endswith(b"\r"):
                cut -= 1
        if cut < len(buf):
            self._carry = buf[cut:]
            buf = buf[:cut]
        else:
            self._carry = b""
        if not buf:
            return
        self._measure(buf)
        if self._at_start:
            self._at_start = False
            if buf.startswith(b"."):
                buf = buf[1:]
        self.spool.write(buf.replace(b"\r\n.", b"\r\n"))

    def _measure(self, buf: bytes) -> None:
        """Track the current line's length; flag a line over the limit. Splitting into
        lines only when one could be too long keeps this to one ``rfind`` per chunk."""
        if self.long_line:
            return
        if self._line + len(buf) + 2 <= self.line_limit:
            end = buf.rfind(b"\r\n")
            self._line = self._line + len(buf) if end < 0 else len(buf) - end - 2
            return
        lines = buf.split(b"\r\n")
        first = self._line + len(lines[0])
        self._line = first if len(lines) == 1 else len(lines[-1])
        if first + 2 > self.line_limit or any(len(line) + 2 > self.line_limit for line in lines[1:]):
            self.long_line = True
