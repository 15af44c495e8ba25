"""What can be decided about one mail without the database: what it is (a delivery report,
an automatic mail that must not be answered), what it asks (``classify``), who sent it,
whether an automatic mail may go back to that address, in which language.

The mail door parses stored bytes into an ``IncomingMail`` and calls ``assess`` in its
parser process, beside the parsing: classification and address checks are most of a
mail's CPU, and there they neither hold the GIL against the SMTP answers nor lengthen the
intake transaction. Separate so that the verdicts stay pure functions of the mail and the
settings, and intake only does what needs the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from core.attachments import Incoming, Prepared, Unread, prepare, refusal
from core.config import Settings
from core.contact_window.addresses import (
    DAEMON_LOCALS,
    accepts_recipient,
    bounced_outbox_id,
    own_addresses,
    valid_recipient,
)
from core.contact_window.authentication import suspicion
from core.messages import in_locale

CATEGORIES = ("forgot_username", "forgot_password", "activation", "company_not_found", "question", "other")
EXCERPT_CHARS = 400


@dataclass
class DeliveryFailure:
    """One recipient a delivery report says could not be reached."""

    address: str
    status: str
    diagnostic: str = ""


@dataclass
class IncomingMail:
    """What the mail door read from a stored message; plain data, already decoded."""

    message_id: str
    sender: str
    sender_name: str
    subject: str
    text: str
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    # Lower-cased names → decoded values of the headers the rules look at.
    headers: dict[str, str] = field(default_factory=dict)
    envelope_from: str = ""
    rcpt_tos: list[str] = field(default_factory=list)
    recipient_count: int = 0
    is_report: bool = False
    failures: list[DeliveryFailure] = field(default_factory=list)
    malformed: bool = False
    defects: list[str] = field(default_factory=list)
    # (lower-cased name, value) of the trace headers an MTA adds on the way in
    # (``authentication.TRACE_HEADERS``: Authentication-Results, spam verdicts), top first.
    trace: list[tuple[str, str]] = field(default_factory=list)
    # The files among its parts (mail/attachment_parts.py): read, or only counted.
    attachments: list[Incoming] = field(default_factory=list)


@dataclass
class Assessed:
    """A parsed mail with everything that can be decided about it without the database.

    ``assess`` is pure and costs most of a mail's CPU (classification, address checks),
    so the mail door runs it where it parses, in another process, and the transaction
    only does what needs the database. The rules stay here either way.
    """

    mail: IncomingMail  # NUL-free (storable); subject and names on one line
    sender: str
    bounce: bool  # addressed to one of our signed return paths: about mail we sent
    bounce_of: int | None  # the outbox row that return path names
    unverified_report: bool  # looks like a delivery report, but not to a return path of ours
    category: str
    automatic: str | None  # why RFC 3834 & co. forbid answering it, if they do
    sender_valid: bool  # may an automatic mail go to the sender at all
    locale: str  # guessed from the text; a registered sender's own locale wins
    excerpt: str
    # Why the trusted MTA in front says not to answer automatically (``dmarc_fail``,
    # ``spam``; core.contact_window.authentication), or None.
    suspect: str | None = None
    # The files to keep with the message (named, typed, hashed: ``core.attachments``), or
    # none when they cannot all be kept; then ``files_refused`` is the catalog message
    # (id, params) saying why, and ``refused_files`` their (name, size).
    files: list[Prepared] = field(default_factory=list)
    files_refused: tuple[str, dict[str, Any]] | None = None
    refused_files: list[tuple[str, int]] = field(default_factory=list)


def _files(settings: Settings, incoming: list[Incoming]) -> dict[str, Any]:
    """All of a mail's files prepared, or none of them with the reason (all or nothing)."""
    if not incoming:
        return {}
    ready = [prepare(settings, f) for f in incoming]
    refused = refusal(settings, ready)
    if refused is None:
        return {"files": [f for f in ready if isinstance(f, Prepared)]}
    return {
        "files_refused": (refused.message_id, dict(refused.params)),
        "refused_files": [(f.name, f.size) for f in ready if isinstance(f, Prepared | Unread)],
    }


def assess(settings: Settings, mail: IncomingMail) -> Assessed:
    """Every verdict on ``mail`` that needs no database (see ``Assessed``).

    A delivery report is believed only when it comes back to one of our signed return
    paths (``bounce_of``): anybody can write a report to the contact address, naming
    any address. One that does is an ordinary request (``unverified_report``), which no
    rule lets us answer (it is a report, from a daemon or a null sender).
    """
    # The files leave the mail here: it is kept on the request without them.
    files = _files(settings, mail.attachments)
    mail = replace(_storable(mail), attachments=[])
    sender = _one_line(mail.sender if "@" in mail.sender else mail.envelope_from.lower())
    bounce_of = next(
        (n for n in (bounced_outbox_id(settings, r) for r in mail.rcpt_tos) if n is not None), None
    )
    unverified_report = bounce_of is None and bool(mail.failures) and _is_delivery_report(mail)
    return Assessed(
        mail=mail,
        sender=sender,
        bounce=bounce_of is not None,
        bounce_of=bounce_of,
        unverified_report=unverified_report,
        category=classify(mail.subject, mail.text),
        automatic=_automatic_reason(settings, mail, sender) or ("report" if unverified_report else None),
        sender_valid=valid_recipient(settings, sender),
        locale=_guess_locale(settings, mail),
        excerpt=_excerpt(mail.text),
        suspect=suspicion(settings, mail.trace),
        **files,
    )


_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "forgot_username",
        re.compile(
            r"(ユーザー?名|ユーザー?id|ログインid|アカウント名|ユーザー?ネーム).{0,20}"
            r"(忘れ|わか[らり]|分か[らり]|不明|教えて|確認し)|"
            r"(forg[oe]t\w*|lost|don'?t know|remind\w*).{0,30}(user\s?name|login id|account name)|"
            r"user\s?name.{0,20}(reminder|forgotten)",
            re.S,
        ),
    ),
    (
        "forgot_password",
        re.compile(
            r"パスワード.{0,20}(忘れ|わか[らり]|分か[らり]|リセット|再設定|再発行|変更でき|通ら)|"
            r"(ログインでき(ない|ません))|"
            r"(forg[oe]t\w*|lost|reset\w*|can'?t remember).{0,30}password|password.{0,20}(reset|forgotten)|"
            r"(can'?t|cannot|unable to) (log ?in|sign ?in)",
            re.S,
        ),
    ),
    (
        "activation",
        re.compile(
            r"(有効化|アクティベーション|アクティベート|登録完了|登録の?(案内|通知|メール)|パスワード設定|ようこそ).{0,30}"
            r"(届[かきい]|来ない|来ません|受信でき|期限|切れ|無効)|"
            r"(リンク|url).{0,20}(期限|切れ|無効)|"
            r"activat\w*.{0,40}(not|never|didn'?t|expired|invalid|resend)|"
            r"(not|never|didn'?t) (receive|get)\w*.{0,40}(activation|welcome|registration|confirmation)|"
            r"(link|activation).{0,20}(has )?expired",
            re.S,
        ),
    ),
    (
        "company_not_found",
        re.compile(
            r"(会社|企業|法人|社名).{0,20}(見つか[らり]|見当たら|表示され|出てこ|出て来|検索でき|ない|ありません)|"
            r"(company|organi[sz]ation).{0,30}(not (found|listed|shown)|missing|can'?t find|cannot find)|"
            r"(can'?t|cannot|unable to) find (my|our) (company|organi[sz]ation)",
            re.S,
        ),
    ),
    (
        "question",
        re.compile(
            r"質問|お?問い?合わせ|教えて|でしょうか|ですか|ますか|[?？]|"
            r"\bquestion\b|\bhow (do|can|to)\b|\bwhat\b|\bwhy\b|\bis it possible\b",
            re.S,
        ),
    ),
]


def classify(subject: str, body: str) -> str:
    """The request's category from its subject and the first lines of its text."""
    head = "\n".join(line for line in body.splitlines() if not line.startswith(">"))[:2000]
    # Lower-cased once here rather than ``re.I`` in every pattern: case-insensitive
    # Unicode matching cannot use the literal prefixes and made this 650 µs per mail
    # instead of ~200 (bench/mail.py profile, 2026-12-01); the patterns are written
    # in lower case for it.
    sample = f"{subject}\n{head}".lower()
    for category, pattern in _RULES:
        if pattern.search(sample):
            return category
    return "other"


def _guess_locale(settings: Settings, mail: IncomingMail) -> str:
    sample = mail.subject + mail.text[:500]
    if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", sample):
        return "ja"
    if sample.strip() and sample.isascii():
        return "en"
    return settings.locale


def _excerpt(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines() if line.strip() and not line.startswith(">")]
    return "\n".join(lines)[:EXCERPT_CHARS]


def nul_free(value: str) -> str:
    """PostgreSQL text cannot hold NUL; real mail (and an SMTP envelope) sometimes does."""
    return value.replace("\x00", "") if "\x00" in value else value


# Line breaks and other control characters, with the blanks around them: an encoded word
# (=?UTF-8?B?…?=) can carry CR/LF, and a subject shown with them prints extra lines.
_BREAKS = re.compile(r"[ \t]*[\x00-\x1f\x7f-\x9f\u2028\u2029]+[ \t]*")


def _one_line(value: str) -> str:
    """A header value as one line: each run of control characters becomes one space."""
    return _BREAKS.sub(" ", value).strip() if _BREAKS.search(value) else value


def _storable(mail: IncomingMail) -> IncomingMail:
    """PostgreSQL text cannot hold NUL; real mail sometimes does. The values shown on one
    line (subject, sender, name) are made one line here, once, for every place that
    shows them (staff posts, the staff desk, acknowledgements)."""
    return replace(
        mail,
        message_id=nul_free(mail.message_id),
        sender=_one_line(mail.sender),
        sender_name=_one_line(mail.sender_name),
        subject=_one_line(mail.subject),
        text=nul_free(mail.text),
        in_reply_to=[nul_free(v) for v in mail.in_reply_to],
        references=[nul_free(v) for v in mail.references],
        headers={k: nul_free(v) for k, v in mail.headers.items()},
        envelope_from=nul_free(mail.envelope_from),
        defects=[nul_free(v) for v in mail.defects],
        trace=[(k, nul_free(v)) for k, v in mail.trace],
    )


def _is_delivery_report(mail: IncomingMail) -> bool:
    local = (mail.sender or mail.envelope_from).partition("@")[0].lower()
    return (
        mail.is_report
        or not mail.envelope_from
        or local in ("mailer-daemon", "postmaster")
        or bool(mail.headers.get("x-failed-recipients"))
    )


def _automatic_reason(settings: Settings, mail: IncomingMail, sender: str) -> str | None:
    """Why RFC 3834 (and common sense about loops) forbids answering this mail, if it does."""
    h = mail.headers
    auto_submitted = h.get("auto-submitted", "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return "auto-submitted"
    if h.get("precedence", "").strip().lower() in ("bulk", "list", "junk"):
        return "precedence"
    if any(h.get(name) for name in ("list-id", "list-unsubscribe", "list-post", "mailing-list")):
        return "list"
    if h.get("x-autoreply") or h.get("x-autorespond"):
        return "auto-reply"
    suppress = h.get("x-auto-response-suppress", "").lower()
    if "all" in suppress or "autoreply" in suppress or "oof" in suppress:
        return "x-auto-response-suppress"
    if h.get("x-madoguchi-loop") or "madoguchi" in h.get("x-loop", "").lower():
        return "loop"
    if mail.is_report or h.get("feedback-type"):
        return "report"
    if not mail.envelope_from.strip():
        return "null-sender"
    for address in (sender, mail.envelope_from.lower()):
        if address and DAEMON_LOCALS.match(address.partition("@")[0]):
            return "daemon"
        if address in own_addresses(settings) or accepts_recipient(settings, address):
            return "ourselves"
    return None


def unreadable(
    settings: Settings,
    envelope_from: str,
    rcpt_tos: list[str],
    defect: str,
    *,
    timed_out_after: float | None = None,
) -> Assessed:
    """A stored mail the door could not read: parsing it overran the time limit
    (``timed_out_after`` seconds) or failed (``defect`` says how, for the inbox record).

    It still becomes a request (or a follow-up, by its signed reply address), so staff see
    that it came; its raw bytes stay in its inbox record, flagged. Nothing automatic
    answers it: none of its headers (Auto-Submitted, the receiving MTA's verdicts) could
    be checked and its sender is only the envelope's.
    """
    t = in_locale(settings.locale)
    if timed_out_after is None:
        reason = t("contact.unreadable.crashed")
    else:
        reason = t("contact.unreadable.timed_out", seconds=f"{timed_out_after:g}")
    mail = IncomingMail(
        message_id="",
        sender="",
        sender_name="",
        subject=t("contact.unreadable.subject"),
        text=t("contact.unreadable.body", reason=reason),
        envelope_from=envelope_from,
        rcpt_tos=list(rcpt_tos),
        malformed=True,
        defects=[defect],
    )
    # Even at one of our signed return paths it is no delivery report we could read.
    return replace(
        assess(settings, mail),
        category="other",
        automatic="unreadable",
        bounce=False,
        bounce_of=None,
        unverified_report=False,
    )
