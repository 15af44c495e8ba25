"""Attachments: files kept with a message (of a contact-window request, an inquiry, …)
and offered through signed, expiring links (SPEC §4.8; docs/attachments.md).

    prepare(settings, file)                  name, sniffed type, size, SHA-256 (pure)
    refusal(settings, files)                 why they cannot be kept, or None
    store(uow, owner_kind, owner_id, files)  all of them, in the caller's transaction
    for_owner(source, owner_kind, owner_id)  what is stored, without the bytes
    contents(source, ids)                    files with their bytes (sending them as MIME)
    link(settings, attachment, ttl)          a signed download URL on the web door
    open_link(source, hasher, token)         the file a link names, or None
    with_links(settings, context, now, loc)  a post's or mail's file list, with fresh links

Modules: ``names`` (sanitising), ``sniffing`` (types), ``tables``, ``storing``,
``links``. Doors call these; they never read the tables themselves.
"""

from core.attachments.links import link, open_link, shown_date, size_text, staff_ttl, with_links
from core.attachments.names import sanitise
from core.attachments.sniffing import served_type, sniff
from core.attachments.storing import (
    COLUMNS,
    MAX_FILES,
    AttachmentInfo,
    AttachmentsRefused,
    Incoming,
    NewFile,
    Prepared,
    Unread,
    contents,
    for_owner,
    info,
    prepare,
    refusal,
    store,
)

__all__ = [
    "COLUMNS",
    "MAX_FILES",
    "AttachmentInfo",
    "AttachmentsRefused",
    "Incoming",
    "NewFile",
    "Prepared",
    "Unread",
    "contents",
    "for_owner",
    "info",
    "link",
    "open_link",
    "prepare",
    "refusal",
    "sanitise",
    "served_type",
    "shown_date",
    "size_text",
    "sniff",
    "staff_ttl",
    "store",
    "with_links",
]
