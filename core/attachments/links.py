"""Signed, expiring download links for attachments, served by the web door at
``/files/<token>``.

The token is ``<id>.<expires>.<signature>``: the attachment's id, the Unix time the link
ends, and a keyed hash (``core.hashing``, MADOGUCHI_SECRET_KEY) of both and of the
file's SHA-256. Nothing is stored per link, so every instance checks any link, and a
link cannot be turned into one for another file, a later time, or a file stored later
under a reused id. The link is a bearer credential: whoever holds it may download the
file until it ends, as with a link in a mail.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from core.attachments.storing import AttachmentInfo, find, read_bytes
from core.clock import JST
from core.config import Settings
from core.hashing import Hasher
from core.snapshots import Reader

PURPOSE = "attachment-link"
_TOKEN = re.compile(r"^([1-9][0-9]{0,17})\.([1-9][0-9]{0,11})\.([0-9a-f]{32})$")


def _signature(hasher: Hasher, attachment_id: int, expires: int, sha256: str) -> str:
    return hasher.digest(f"{attachment_id}.{expires}.{sha256}", purpose=PURPOSE)[:32]


def token(hasher: Hasher, attachment: AttachmentInfo, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{attachment.id}.{expires}.{_signature(hasher, attachment.id, expires, attachment.sha256)}"


def link(
    settings: Settings,
    attachment: AttachmentInfo,
    ttl: timedelta,
    *,
    now: datetime | None = None,
    hasher: Hasher | None = None,
) -> str:
    """The download URL of ``attachment``, good for ``ttl`` from ``now``."""
    hasher = hasher or Hasher(settings.resolved_secret_key())
    expires_at = (now or datetime.now(UTC)) + ttl
    return f"{settings.public_url.rstrip('/')}/files/{token(hasher, attachment, expires_at)}"


def staff_ttl(settings: Settings) -> timedelta:
    """How long the links in staff posts and mails are good (MADOGUCHI_ATTACHMENT_LINK_DAYS)."""
    return timedelta(days=settings.attachment_link_days)


async def open_link(source: Reader, hasher: Hasher, raw_token: str) -> tuple[AttachmentInfo, bytes] | None:
    """The file a link names, or None: malformed, forged, expired and unknown alike (the
    caller answers all of them the same way)."""
    match = _TOKEN.match(raw_token)
    if match is None:
        return None
    attachment_id, expires, signature = int(match.group(1)), int(match.group(2)), match.group(3)
    if expires < source.clock.now().timestamp():
        return None
    attachment = await find(source, attachment_id)
    if attachment is None:
        return None
    expected = _signature(hasher, attachment_id, expires, attachment.sha256)
    if not hmac.compare_digest(expected, signature):
        return None
    data = await read_bytes(source, attachment_id)
    return (attachment, data) if data is not None else None


_WEEKDAYS_JA = "月火水木金土日"


def size_text(size: int) -> str:
    """A size as people read it: 1,234 B / 12.3 KiB / 9.0 MiB (the same in ja and en)."""
    if size < 1024:
        return f"{size:,} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def shown_date(moment: datetime, locale: str) -> str:
    """A link's last day as people read it: 2026年12月8日（火） in Japanese (JST)."""
    day = moment.astimezone(JST)
    if locale == "ja":
        return f"{day.year}年{day.month}月{day.day}日（{_WEEKDAYS_JA[day.weekday()]}）"
    return day.strftime("%a %d %b %Y")


def with_links(settings: Settings, context: Mapping[str, Any], now: datetime, locale: str) -> dict[str, Any]:
    """``context`` (a staff post's, a mail's) with a fresh signed link (``url``) and a
    readable size (``size_text``) for each file in its ``attachments`` list (entries from
    ``AttachmentInfo.summary``), and ``attachments_until``, the links' last day. Called
    when the post or mail is rendered (``core.delivery.Claimed.context``), so no link
    waits in the outbox as a bearer token. Mail templates include
    ``<locale>/_attachments.txt.j2`` / ``.html.j2`` to list them."""
    files = context.get("attachments")
    if not isinstance(files, list) or not files:  # none, or not a list of files (a count)
        return dict(context)
    hasher = Hasher(settings.resolved_secret_key())
    ttl = staff_ttl(settings)
    linked = []
    for entry in files:
        if not isinstance(entry, dict) or "id" not in entry or "sha256" not in entry:
            linked.append(entry)
            continue
        expires = now + ttl
        signed = f"{int(entry['id'])}.{int(expires.timestamp())}."
        signed += _signature(hasher, int(entry["id"]), int(expires.timestamp()), str(entry["sha256"]))
        url = f"{settings.public_url.rstrip('/')}/files/{signed}"
        linked.append({**entry, "url": url, "size_text": size_text(int(entry.get("size", 0)))})
    return {**context, "attachments": linked, "attachments_until": shown_date(now + ttl, locale)}
