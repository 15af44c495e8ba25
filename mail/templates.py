"""Rendering a mail (subject, text, HTML) and turning it into a MIME message.

``templates/mail/<locale>/<name>.{subject,txt,html}.j2`` through the one Jinja2
environment of ``core.templates``: StrictUndefined, so a context key missing from a row
fails the send loudly (and is retried/alerted) instead of mailing a blank; autoescape for
``.html.j2`` only. Services hand plain dicts; nothing here touches the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from core.config import Settings
from core.templates import environment

# Every template the outbox may name; a test renders each in each locale.
MAIL_TEMPLATES = (
    "account_welcome",
    "activation_resent",
    "password_reset",
    "username_reminder",
    "support_id_issued",
    "contact_added",
    "key_added",
    "key_removed",
    "terms_agreed",
    "request_ack",
    "staff_reply",
    "email_change_confirm",
    "email_changed",
    "slack_linked",
    "inquiry_ack",
    "inquiry_answer",
)
# Sent by a person: everything else is automatic and says so (RFC 3834).
PERSONAL_TEMPLATES = frozenset({"staff_reply", "inquiry_answer"})


def visible_to(to: list[str], headers: dict[str, Any]) -> list[str]:
    """The ``To`` header: the recipients not named in the row's ``Cc`` header (an
    inquiry's mail goes to the asker with the support ID's CC addresses in Cc; every
    recipient is in the envelope)."""
    cc = {a.strip().lower() for a in str(headers.get("Cc") or "").split(",") if a.strip()}
    shown = [a for a in to if a.lower() not in cc]
    return shown or list(to)


@dataclass(frozen=True)
class OutgoingFile:
    """A file sent as a MIME part of a mail: its sanitised name, the type it is sent as,
    its bytes (read from the attachment store when the mail is rendered)."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MailTemplates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = environment()

    def render(self, name: str, locale: str, context: dict[str, Any]) -> Rendered:
        locale = locale if locale in ("ja", "en") else self.settings.locale
        values = {
            "vendor": self.settings.vendor_name,
            "service": self.settings.service_name,
            "public_url": self.settings.public_url,
            "contact_address": self.settings.contact_address,
            **context,
        }
        subject = self.env.get_template(f"mail/{locale}/{name}.subject.j2").render(values)
        subject = " ".join(subject.split())
        # Not "subject": request mails use that key for the customer's own subject.
        values["mail_subject"] = subject
        text = self.env.get_template(f"mail/{locale}/{name}.txt.j2").render(values)
        html = self.env.get_template(f"mail/{locale}/{name}.html.j2").render(values)
        return Rendered(subject, text, html)


def build_message(
    settings: Settings,
    rendered: Rendered,
    *,
    to: list[str],
    message_id: str,
    template: str,
    headers: dict[str, Any],
    date: Any,
    files: Sequence[OutgoingFile] = (),
) -> EmailMessage:
    """text/plain + text/html in UTF-8, header words RFC 2047-encoded by the SMTP policy;
    ``files`` after them as attachments (the whole then ``multipart/mixed``)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=settings.vendor_name, addr_spec=settings.mail_from)
    msg["To"] = ", ".join(visible_to(to, headers))
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if template not in PERSONAL_TEMPLATES and "Auto-Submitted" not in headers:
        msg["Auto-Submitted"] = "auto-generated"
    for name, value in headers.items():
        if value is None or any(c in str(value) for c in "\r\n"):
            continue
        msg[name] = str(value)
    msg.set_content(rendered.text, charset="utf-8", cte="base64")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="base64")
    for file in files:
        maintype, _slash, subtype = file.content_type.partition("/")
        msg.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=file.name)
    return msg
