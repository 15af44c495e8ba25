"""Stored raw bytes → ``core.contact_window.IncomingMail``, safely.

Runs in a worker thread (never on the event loop) and caps the header block before the
stdlib parser sees it: CPython's header handling is super-linear on huge folded headers
(SPEC §4.6). Nothing here raises: a message that cannot be understood comes back flagged
``malformed`` with whatever could be read, and the raw bytes stay in the database.
"""

from __future__ import annotations

import email
import re
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from core.contact_window import MAX_TRACE_HEADERS, TRACE_HEADERS, DeliveryFailure, IncomingMail
from mail.attachment_parts import attachments
from mail.decoding import decode_bytes, decode_header, decode_payload
from mail.html_text import html_to_text

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 1000
MAX_ADDRESSES = 100
MAX_PARTS = 500
MAX_DEPTH = 20
MAX_BODY_CHARS = 200_000
DEFAULT_ATTACHMENT_BYTES = 10 * 1024 * 1024  # MADOGUCHI_ATTACHMENT_MAX_BYTES's default
ADDRESS_FIELDS = ("from", "to", "cc", "reply-to", "sender", "bcc")
# Headers the contact-window rules look at (loop suppression, RFC 3834, bounces).
KEPT_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "list-post",
    "mailing-list",
    "x-auto-response-suppress",
    "x-autoreply",
    "x-autorespond",
    "x-loop",
    "x-madoguchi-loop",
    "x-failed-recipients",
    "return-path",
    "feedback-type",
)
_MSGID = re.compile(r"<[^<>\s]{1,900}>")
_BLANK = re.compile(rb"\r?\n\r?\n|\r\r")


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    match = _BLANK.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def cap_headers(raw: bytes) -> tuple[bytes, list[str]]:
    """The message with its header block cut to the caps, and what was cut."""
    head, body = split_head(raw)
    defects: list[str] = []
    if len(head) > MAX_HEADER_BYTES:
        head = head[:MAX_HEADER_BYTES].rsplit(b"\n", 1)[0]
        defects.append("header block over 64 KiB truncated")
    lines = re.split(rb"\r?\n|\r", head)
    fields = 0
    kept: list[bytes] = []
    for line in lines:
        if line[:1] not in (b" ", b"\t"):
            fields += 1
            if fields > MAX_HEADER_FIELDS:
                defects.append("more than 1000 header fields; rest dropped")
                break
        kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n" + body, defects


def _get(msg: Message, name: str) -> str | None:
    """A header's raw value (8-bit kept as surrogates); compat32's ``get`` may hand back
    a ``Header`` whose ``str()`` raises on undeclared 8-bit."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None


def _get_all(msg: Message, name: str) -> list[str]:
    return [v if isinstance(v, str) else str(v) for k, v in msg.raw_items() if k.lower() == name]


def _text(value: str) -> str:
    """Raw header text (8-bit kept as surrogates by compat32) made storable."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _trace(msg: Message) -> list[tuple[str, str]]:
    """The trace headers the assessment judges (Authentication-Results, spam verdicts),
    top first, unfolded; which of them to believe is core's rule."""
    found = [
        (key.lower(), re.sub(r"\r\n|\r|\n", " ", _text(str(value)))[:2000])
        for key, value in msg.raw_items()
        if key.lower() in TRACE_HEADERS
    ]
    return found[:MAX_TRACE_HEADERS]


def _ids(value: str | None) -> list[str]:
    if not value:
        return []
    return [_text(i) for i in _MSGID.findall(value)[:100]]


def _text_of(part: Message) -> str:
    raw = part.get_payload(decode=False)
    if not isinstance(raw, str):
        return ""
    data = decode_payload(
        raw.encode("utf-8", "surrogateescape"), _get(part, "content-transfer-encoding") or ""
    )
    return decode_bytes(data, part.get_content_charset())


def _walk(root: Message) -> list[Message]:
    """Leaf parts, iteratively, depth- and count-capped (a 3,000-part bomb is in the corpus)."""
    leaves: list[Message] = []
    stack: list[tuple[Message, int]] = [(root, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        payload = part.get_payload()
        if isinstance(payload, list):
            if depth < MAX_DEPTH:
                stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
        else:
            leaves.append(part)
    return leaves


def _delivery_failures(msg: Message, leaves: list[Message]) -> list[DeliveryFailure]:
    failures: list[DeliveryFailure] = []
    for part in _walk_all(msg):
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            if not isinstance(block, Message):
                continue
            recipient = str(_get(block, "final-recipient") or _get(block, "original-recipient") or "")
            action = str(_get(block, "action") or "").strip().lower()
            status = str(_get(block, "status") or "").strip()
            if not recipient:
                continue
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            if action == "failed" or status.startswith("5"):
                diagnostic = decode_header(str(_get(block, "diagnostic-code") or ""))[:500]
                failures.append(DeliveryFailure(address, status or "5.0.0", diagnostic))
    failed = _get(msg, "x-failed-recipients")
    if not failures and failed:
        for _name, address in getaddresses([failed])[:MAX_ADDRESSES]:
            if "@" in address:
                failures.append(DeliveryFailure(address.lower(), "5.0.0", "X-Failed-Recipients"))
    return failures


def _walk_all(root: Message) -> list[Message]:
    out: list[Message] = []
    stack: list[tuple[Message, int]] = [(root, 0)]
    while stack and len(out) < MAX_PARTS:
        part, depth = stack.pop()
        out.append(part)
        payload = part.get_payload()
        if (
            isinstance(payload, list)
            and depth < MAX_DEPTH
            and part.get_content_type() != "message/delivery-status"
        ):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return out


_VENDOR_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery status notification \(failure\)|mail delivery failed|"
    r"delivery failure|failure notice|non.?delivery|mail system error|user unknown|"
    r"配信.{0,4}(失敗|不能|エラー|できません)|送信エラー|未配信|メールエラー",
    re.I,
)
_BODY_FAILURE = re.compile(
    r"<?([A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,})>?[^\n]{0,200}?\b(5\d\d|5\.\d{1,3}\.\d{1,3})\b"
)


_ORIGINAL = re.compile(r"(?im)^(received:|-+ ?original message|content-type: message/rfc822|from: )")
_ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,}")


def _vendor_failures(sender: str, subject: str, body: str) -> list[DeliveryFailure]:
    """Bounces that are not multipart/report: a daemon sender, a failure subject, an
    address followed by a 5xx code in the text (Postfix, qmail, Exchange styles)."""
    local = sender.split("@", 1)[0].lower()
    if local not in ("mailer-daemon", "postmaster") and not _VENDOR_BOUNCE_SUBJECT.search(subject):
        return []
    found: dict[str, DeliveryFailure] = {}
    for match in _BODY_FAILURE.finditer(body[:50_000]):
        address = match.group(1).lower()
        found.setdefault(address, DeliveryFailure(address, match.group(2), match.group(0)[:300]))
        if len(found) >= MAX_ADDRESSES:
            break
    if not found and local in ("mailer-daemon", "postmaster") and _VENDOR_BOUNCE_SUBJECT.search(subject):
        # Notices that name the address without a code (EZweb, BIGLOBE): addresses in
        # the notice itself, before the returned message's headers begin.
        notice = _ORIGINAL.split(body[:20_000], 1)[0]
        for match in _ADDRESS.finditer(notice):
            address = match.group(0).lower()
            found.setdefault(address, DeliveryFailure(address, "5.0.0", "vendor notice"))
            if len(found) >= 5:
                break
    return list(found.values())


def parse(
    raw: bytes,
    mail_from: str = "",
    rcpt_tos: list[str] | None = None,
    *,
    max_attachment_bytes: int = DEFAULT_ATTACHMENT_BYTES,
) -> IncomingMail:
    """Never raises; see the module docstring. Parts larger than ``max_attachment_bytes``
    are counted, not decoded (``mail.attachment_parts``)."""
    try:
        return _parse(raw, mail_from, rcpt_tos or [], max_attachment_bytes)
    except Exception as exc:  # the raw bytes are kept; staff see the flag and the error
        return IncomingMail(
            message_id="",
            sender=mail_from.lower(),
            sender_name="",
            subject="",
            text="",
            envelope_from=mail_from,
            rcpt_tos=rcpt_tos or [],
            malformed=True,
            defects=[f"unparseable: {type(exc).__name__}"],
        )


def _parse(raw: bytes, mail_from: str, rcpt_tos: list[str], max_attachment_bytes: int) -> IncomingMail:
    capped, defects = cap_headers(raw)
    msg = email.message_from_bytes(capped, policy=compat32)
    defects += [type(d).__name__ for d in msg.defects][:20]

    headers: dict[str, str] = {}
    for name in KEPT_HEADERS:
        value = _get(msg, name)
        if value is not None:
            headers[name] = decode_header(value)[:1000]

    def addresses(field: str) -> list[tuple[str, str]]:
        raw_values = _get_all(msg, field)[:MAX_ADDRESSES]
        pairs = getaddresses(raw_values)[:MAX_ADDRESSES]
        if len(pairs) >= MAX_ADDRESSES:
            defects.append(f"{field}: more than 100 addresses; rest dropped")
        return pairs

    from_pairs = addresses("from")
    sender_name, sender = ("", "")
    if from_pairs:
        sender_name, sender = from_pairs[0]
    if "@" not in sender:
        sender = parseaddr(mail_from)[1] or sender
    sender_name = decode_header(sender_name)
    to_count = len(addresses("to")) + len(addresses("cc"))

    subject = decode_header(_get(msg, "subject"))[:998]
    message_id_values = _ids(_get(msg, "message-id"))
    leaves = _walk(msg)
    plain = ""
    markup = ""
    body: list[Message] = []
    for part in leaves:
        ctype = part.get_content_type()
        disposition = (_get(part, "content-disposition") or "").lower()
        if "attachment" in disposition:
            continue
        if ctype == "text/plain" and not plain:
            plain = _text_of(part)
            body.append(part)
        elif ctype == "text/html" and not markup:
            markup = _text_of(part)
            body.append(part)
        if plain:
            break
    if not plain and not msg.is_multipart() and msg.get_content_maintype() != "text":
        plain = ""
    text = plain or (html_to_text(markup) if markup else "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:MAX_BODY_CHARS]

    failures: list[DeliveryFailure] = []
    report_type = str(msg.get_param("report-type", "") or "").lower()
    is_report = msg.get_content_type() == "multipart/report"
    if is_report and report_type in ("delivery-status", ""):
        failures = _delivery_failures(msg, leaves)
    if not failures and _get(msg, "x-failed-recipients"):
        failures = _delivery_failures(msg, leaves)
    if not failures:
        failures = _vendor_failures(sender or mail_from, subject, text)
    return IncomingMail(
        message_id=message_id_values[0] if message_id_values else "",
        in_reply_to=_ids(_get(msg, "in-reply-to")),
        references=_ids(" ".join(_get_all(msg, "references")))[-50:],
        sender=_text(sender.strip().lower())[:320],
        sender_name=sender_name[:200],
        subject=subject,
        text=text,
        headers=headers,
        envelope_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        recipient_count=to_count,
        is_report=is_report,
        failures=failures,
        malformed=bool(defects),
        defects=defects,
        trace=_trace(msg),
        attachments=[] if is_report else attachments(leaves, body, max_attachment_bytes),
    )
