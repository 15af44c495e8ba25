"""Turning the bytes of real-world mail into text the way a Japanese reader's client would.

Declared charsets lie (Shift_JIS that is really CP932, ISO-2022-JP carrying NEC
specials such as ①, read by mail/iso2022jp.py), encoded-words split one character across
two words, and 8-bit bytes appear undeclared in headers. Python's ``email`` decoders
give up with ``=?`` or U+FFFD in those cases; these functions try what the sender most
likely meant first.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re

from mail import iso2022jp

# Names seen in the wild mapped to the codec that actually decodes them.
_ALIASES = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "cp932": "cp932",
    "iso-2022-jp": "iso-2022-jp",
    "iso2022jp": "iso-2022-jp",
    "iso-2022-jp-1": "iso-2022-jp",
    "iso-2022-jp-2": "iso-2022-jp",
    "iso-2022-jp-3": "iso-2022-jp",
    "csiso2022jp": "iso-2022-jp",
    "cp50220": "iso-2022-jp",
    "cp50221": "iso-2022-jp",
    "cp50222": "iso-2022-jp",
    "euc-jp": "euc_jp",
    "x-euc-jp": "euc_jp",
    "eucjp": "euc_jp",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "unknown-8bit": "",
    "x-unknown": "",
    "utf8": "utf-8",
}

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_WS_ONLY = re.compile(rb"^[ \t\r\n]*$")


def normalise_charset(charset: str | None) -> str:
    """The codec to try for a declared charset; "" when unknown or meaningless."""
    if not charset:
        return ""
    name = charset.strip().strip('"').lower().split("*", 1)[0]
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        "".encode(name)
    except LookupError:
        return ""
    return name


def _try(data: bytes, codec: str) -> str | None:
    """``data`` read strictly as ``codec``, or None. ISO-2022-JP is ours (mail/iso2022jp.py),
    then Python's codecs for the ISO-2022-JP-2 sets (Chinese, Korean, Latin) ours leaves out."""
    candidates = ("cp50220", "iso2022_jp_2", "iso2022_jp_2004") if codec == "iso-2022-jp" else (codec,)
    for candidate in candidates:
        try:
            return iso2022jp.decode(data) if candidate == "cp50220" else data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Bytes to text: the declared charset first, then what Japanese senders really use.

    Undeclared 8-bit is tried as UTF-8, then CP932, EUC-JP; escape sequences mean
    ISO-2022-JP whatever the label says. Only when nothing fits strictly do replacement
    characters appear.
    """
    candidates: list[str] = []
    codec = normalise_charset(declared)
    if b"\x1b$" in data or b"\x1b(" in data:
        candidates.append("iso-2022-jp")
    if codec:
        candidates.append(codec)
    candidates += ["utf-8", "cp932", "euc_jp"]
    if not codec:
        # Undeclared and neither UTF-8 nor Japanese: western 8-bit is what is left.
        candidates += ["cp1252", "latin-1"]
    seen: set[str] = set()
    for candidate in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        text = _try(data, candidate)
        if text is not None:
            return text
    return data.decode(codec or "utf-8", errors="replace")


def _b64(payload: bytes) -> bytes:
    cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", payload)
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError):
        return payload


def _q(payload: bytes) -> bytes:
    return quopri.decodestring(payload.replace(b"_", b" "))


def decode_header(value: str | bytes | None) -> str:
    """An RFC 2047 header as a reader would see it.

    Adjacent encoded-words of one charset are joined as bytes before decoding (senders
    split a multi-byte character across words); whitespace between encoded-words is
    dropped as the RFC says; raw 8-bit or raw ISO-2022-JP outside encoded-words is
    decoded by ``decode_bytes``.
    """
    if value is None:
        return ""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    raw = re.sub(rb"\r?\n[ \t]", b" ", raw).replace(b"\r", b"").replace(b"\n", b"")
    pieces: list[str] = []
    pending: bytearray = bytearray()
    pending_charset = ""
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            pieces.append(decode_bytes(bytes(pending), pending_charset or None))
        pending = bytearray()
        pending_charset = ""

    for match in _ENCODED_WORD.finditer(raw):
        between = raw[pos : match.start()]
        # Whitespace between two encoded-words is not part of the text (RFC 2047 §6.2).
        if between and not (pos > 0 and _WS_ONLY.match(between)):
            flush()
            pieces.append(decode_bytes(between))
        charset = match.group(1).decode("ascii", "replace")
        codec = normalise_charset(charset) or charset.lower()
        data = _b64(match.group(3)) if match.group(2) in (b"b", b"B") else _q(match.group(3))
        if pending and codec != pending_charset:
            flush()
        pending_charset = codec
        pending += data
        pos = match.end()
    rest = raw[pos:]
    flush()
    if rest:
        pieces.append(decode_bytes(rest))
    return "".join(pieces).strip()


def decode_payload(raw: bytes, transfer_encoding: str) -> bytes:
    """Content-Transfer-Encoding undone leniently: broken base64 keeps what decodes."""
    cte = transfer_encoding.strip().lower()
    if cte == "base64":
        return _b64(raw)
    if cte == "quoted-printable":
        return quopri.decodestring(raw)
    return raw
