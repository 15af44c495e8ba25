"""An outbound mail's bytes, written directly: the sending path's MIME.

Why this module exists: the stdlib's ``EmailMessage`` (``mail.templates.build_message``,
policy SMTP) cost most of the outbox worker's CPU, ~0.5 ms a mail: every header is
parsed into a freshly made header class (``HeaderRegistry`` builds a class per header),
refolded by the generic folder, and the generator walks the tree again. Our mail has
one fixed shape (text and HTML alternatives in UTF-8, base64 bodies, RFC 2047 words in
the headers; with files, that inside a ``multipart/mixed`` followed by one base64 part a
file, ``Content-Disposition: attachment`` with its sanitised name in RFC 2231 form when
not plain ASCII), so it is written out here in a few string operations.

``tests/unit/test_mime.py`` keeps this honest: for every template, locale and the
awkward cases it parses this module's bytes and ``build_message``'s with the stdlib and
requires the same headers and the same bodies. Anything outside the shape written here
(a non-ASCII address or header value other than the subject and the sender's display
name, a header we set ourselves given again, a value that would read as an encoded word
or cannot be folded) is left to ``build_message``.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable, Sequence
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from core.config import Settings
from mail.templates import PERSONAL_TEMPLATES, OutgoingFile, Rendered, build_message, visible_to

# RFC 5322 "atext" words separated by single spaces: a display name written as it is.
_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# Printable ASCII and spaces: a header value written as it is (folded at spaces).
_PLAIN = re.compile(r"[\x20-\x7e]*")
_OURS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
# A UTF-8 chunk of at most 45 bytes is 60 base64 characters: "=?utf-8?b?…?=" stays
# within RFC 2047's 75.
_WORD_BYTES = 45
_SOFT_LIMIT = 78
_HARD_LIMIT = 998


class _Unusual(Exception):
    """Not the shape written here: ``build_message`` writes this one."""


def message_bytes(
    settings: Settings,
    rendered: Rendered,
    *,
    to: list[str],
    message_id: str,
    template: str,
    headers: dict[str, Any],
    date: Any,
    files: Sequence[OutgoingFile] = (),
) -> bytes:
    """The same mail as ``build_message(...).as_bytes()``, as CRLF-terminated ASCII."""
    try:
        return _write(settings, rendered, to, message_id, template, headers, date, files)
    except _Unusual:
        msg = build_message(
            settings,
            rendered,
            to=to,
            message_id=message_id,
            template=template,
            headers=headers,
            date=date,
            files=files,
        )
        return msg.as_bytes()


def _write(
    settings: Settings,
    rendered: Rendered,
    to: list[str],
    message_id: str,
    template: str,
    headers: dict[str, Any],
    date: Any,
    files: Sequence[OutgoingFile] = (),
) -> bytes:
    lines = [
        "From: " + _mailbox(settings.vendor_name, settings.mail_from),
        _fold("To", _addresses(visible_to(to, headers))),
        _fold("Subject", _text(rendered.subject)),
        "Date: " + format_datetime(date),
        _fold("Message-ID", _plain(message_id)),
    ]
    if template not in PERSONAL_TEMPLATES and "Auto-Submitted" not in headers:
        lines.append("Auto-Submitted: auto-generated")
    for name, value in headers.items():
        text = "" if value is None else str(value)
        if value is None or "\r" in text or "\n" in text:
            continue  # as build_message: a value that would break the header block is left out
        if not _PLAIN.fullmatch(name) or ":" in name or " " in name or name.lower() in _OURS:
            raise _Unusual(name)
        lines.append(_fold(name, _plain(text)))
    boundary = f"=_madoguchi_{uuid.uuid4().hex}"
    lines.append("MIME-Version: 1.0")
    mixed = f"=_madoguchi_{uuid.uuid4().hex}" if files else ""
    if files:
        lines += [f'Content-Type: multipart/mixed; boundary="{mixed}"', "", f"--{mixed}"]
    lines += [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        *_part("plain", rendered.text),
        f"--{boundary}",
        *_part("html", rendered.html),
        f"--{boundary}--",
        "",
    ]
    head = "\r\n".join(lines).encode("ascii")
    if not files:
        return head
    out = [head]
    for file in files:
        out.append(_file_part(mixed, file))
    out.append(f"--{mixed}--\r\n".encode("ascii"))
    return b"".join(out)


def _file_part(boundary: str, file: OutgoingFile) -> bytes:
    """One file: its (inert) type, base64 in lines of 76, its name as the stdlib writes
    it — quoted when plain ASCII, else RFC 2231 (``filename*=utf-8''…``)."""
    maintype, _slash, subtype = file.content_type.partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        raise _Unusual(file.content_type)
    if _PLAIN.fullmatch(file.name) and not any(c in file.name for c in '"\\') and "=?" not in file.name:
        disposition = f'attachment; filename="{file.name}"'
        if len(disposition) + len("Content-Disposition: ") > _SOFT_LIMIT:
            raise _Unusual(file.name)  # the stdlib folds it its own way
    else:
        disposition = "attachment; filename*=utf-8''" + quote(file.name, safe="")
        if len(disposition) + len("Content-Disposition: ") > _SOFT_LIMIT:
            raise _Unusual(file.name)  # RFC 2231 continuations: the stdlib's
    header = (
        f"--{boundary}\r\n"
        f"Content-Type: {maintype}/{subtype}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: {disposition}\r\n"
        "MIME-Version: 1.0\r\n"
        "\r\n"
    )
    body = base64.encodebytes(file.data).replace(b"\n", b"\r\n")
    return header.encode("ascii") + body + b"\r\n"


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+")


def _part(subtype: str, text: str) -> Iterable[str]:
    # As the stdlib's set_content: every line ends in CRLF (bytes.splitlines: \n, \r,
    # \r\n), then base64 in lines of 76 characters.
    data = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    encoded = binascii.b2a_base64(data, newline=False).decode("ascii")
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        *lines,
        "",  # a blank line before the boundary, as the stdlib writes
    )


def _plain(value: str) -> str:
    if not _PLAIN.fullmatch(value) or "=?" in value:
        raise _Unusual(value)
    return value


def _addresses(addresses: list[str]) -> str:
    for address in addresses:
        if not _PLAIN.fullmatch(address) or any(c in address for c in ' ,"<>()[];:\\') or "=?" in address:
            raise _Unusual(address)
    return ", ".join(addresses)


def _mailbox(display_name: str, address: str) -> str:
    _addresses([address])
    if not display_name:
        return address
    if display_name != " ".join(display_name.split()) or not display_name.isprintable():
        raise _Unusual(display_name)  # edge spaces, runs of spaces, control characters
    if _PHRASE.fullmatch(display_name) and "=?" not in display_name:
        return f"{display_name} <{address}>"
    if display_name.isascii() and _PLAIN.fullmatch(display_name) and "=?" not in display_name:
        quoted = display_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    if display_name.isascii():
        raise _Unusual(display_name)
    return " ".join(_words(display_name)) + f" <{address}>"


def _text(value: str) -> str:
    """An unstructured value (the subject): as it is when plain ASCII, else RFC 2047
    words throughout (folding between words adds no space when read back)."""
    if _PLAIN.fullmatch(value) and "=?" not in value:
        return value
    return " ".join(_words(value))


def _words(value: str) -> list[str]:
    """RFC 2047 words of at most 45 UTF-8 bytes each, never splitting a character."""
    data = value.encode("utf-8")
    words: list[str] = []
    start = 0
    while True:
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character: step back
            end -= 1
        words.append(
            "=?utf-8?b?" + binascii.b2a_base64(data[start:end], newline=False).decode("ascii") + "?="
        )
        if end >= len(data):
            return words
        start = end


def _fold(name: str, value: str) -> str:
    """``Name: value`` folded at spaces into lines of at most 78 characters where a
    space allows it; a line that would still pass 998 is not written here."""
    line = f"{name}: {value}"
    if len(line) <= _SOFT_LIMIT:
        return line
    out: list[str] = []
    current = f"{name}:"
    for token in value.split(" "):
        if not token:
            raise _Unusual(value)  # runs of spaces: the stdlib keeps them; not our shape
        if len(current) + 1 + len(token) > _SOFT_LIMIT and current.strip() and current != f"{name}:":
            out.append(current)
            current = ""
        current += " " + token
    out.append(current)
    if any(len(part) > _HARD_LIMIT for part in out):
        raise _Unusual(value)
    return "\r\n".join(out)
