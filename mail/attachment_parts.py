"""The attachments of a parsed mail: which MIME parts are files, their names and bytes.

A leaf part is a file when it is marked ``attachment``, has a file name, or is not text
(an inline image, a PDF without a name); the text parts chosen as the body are not. The
name comes from Content-Disposition's ``filename`` or Content-Type's ``name`` (RFC 2231
continuations and charsets undone by the stdlib, RFC 2047 encoded-words — which many
Japanese mailers use there — by ``decode_header``). The bytes are decoded from base64 or
quoted-printable only when they will be kept: when a mail has more files than one
message may carry, or a part is clearly over the size limit, the part is only counted
(``Unread``), so a 50 MiB part is never decoded just to be refused (issue 16: memory
per message).
"""

from __future__ import annotations

import binascii
from email.message import Message
from email.utils import collapse_rfc2231_value

from core.attachments import MAX_FILES, Incoming, NewFile, Unread
from mail.decoding import decode_header, decode_payload

_NOT_FILES = ("multipart", "message")


def _raw(part: Message, name: str) -> str | None:
    for key, value in part.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None


def file_name(part: Message) -> str:
    """The part's file name as its sender meant it ("" when it has none)."""
    found: object = part.get_param("filename", None, "content-disposition")
    if found is None:
        found = part.get_param("name", None, "content-type")
    if found is None:
        return ""
    value = collapse_rfc2231_value(found) if isinstance(found, tuple) else str(found)
    return decode_header(value)[:1000]


def is_file(part: Message) -> bool:
    disposition = (_raw(part, "content-disposition") or "").strip().lower()
    if disposition.startswith("attachment"):
        return True
    if file_name(part):
        return True
    return part.get_content_maintype() not in ("text", *_NOT_FILES)


def _estimated_size(payload: str, transfer_encoding: str) -> int:
    """The decoded size, near enough to tell a part far over the limit without decoding."""
    if transfer_encoding == "base64":
        return len(payload) * 3 // 4 - len(payload) // 77 * 3 // 4
    return len(payload)


def _decoded(payload: str, transfer_encoding: str) -> bytes:
    raw = payload.encode("utf-8", "surrogateescape")
    if transfer_encoding == "base64":
        try:
            return binascii.a2b_base64(raw)  # skips line breaks; fast for large parts
        except (binascii.Error, ValueError):
            pass
    return decode_payload(raw, transfer_encoding)


def attachments(parts: list[Message], body: list[Message], max_bytes: int) -> list[Incoming]:
    """The files among ``parts`` (the mail's leaves), in order, read or only counted."""
    files = [part for part in parts if not any(part is b for b in body) and is_file(part)]
    read = len(files) <= MAX_FILES
    found: list[Incoming] = []
    for part in files:
        name = file_name(part)
        payload = part.get_payload(decode=False)
        if not isinstance(payload, str):
            payload = ""
        cte = (_raw(part, "content-transfer-encoding") or "").strip().lower()
        estimate = _estimated_size(payload, cte)
        if not read or estimate > max_bytes + max_bytes // 20 + 1024:
            found.append(Unread(name, estimate))
            continue
        data = _decoded(payload, cte)
        found.append(NewFile(name, data) if len(data) <= max_bytes else Unread(name, len(data)))
    return found
