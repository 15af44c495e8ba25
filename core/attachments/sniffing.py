"""What a file is, from its bytes (never from what the sender said), and what type it
is served as.

``puremagic`` (pure Python, maintained) reads the signatures at the start and end of
the bytes. A file nothing recognises is ``application/octet-stream``. The type served
on the download link is the sniffed one only when a browser cannot run it (PDF, images
other than SVG, archives, office files, audio, video); anything else — HTML, SVG, XML,
scripts, unknown — is served as ``application/octet-stream``, always as an attachment
with ``nosniff``.
"""

from __future__ import annotations

import puremagic

UNKNOWN = "application/octet-stream"
_INERT_PREFIXES = ("image/", "audio/", "video/")
_INERT = {
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/x-tar",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/rtf",
    "text/plain",
    "text/csv",
}
_ACTIVE_IMAGES = {"image/svg+xml"}
# Enough for every signature puremagic knows at the start; the end is read separately.
_HEAD = 64 * 1024
_TAIL = 4 * 1024


def sniff(data: bytes) -> str:
    """The content type the bytes say, or ``application/octet-stream``."""
    if not data:
        return UNKNOWN
    sample = data if len(data) <= _HEAD + _TAIL else data[:_HEAD] + data[-_TAIL:]
    try:
        found = puremagic.from_string(sample, mime=True)
    except (puremagic.PureError, ValueError):
        return UNKNOWN
    found = str(found or "").strip().lower()
    if not found or "/" not in found or len(found) > 127:
        return UNKNOWN
    return found


def served_type(content_type: str) -> str:
    """The Content-Type a download is sent with: the sniffed type when inert, else
    ``application/octet-stream``."""
    if content_type in _ACTIVE_IMAGES:
        return UNKNOWN
    if content_type in _INERT or content_type.startswith(_INERT_PREFIXES):
        return content_type
    return UNKNOWN
