"""How the contact window's mail names a request, and whom the window takes mail from and
writes to.

A request is ``REQ-000123`` to people, ``[REQ-000123]`` in a subject and
``contact+r123-<sig>@…`` as an address; the signature makes a reply thread even without
headers while nobody can forge a tag for someone else's request. The same few addresses
decide what ``RCPT`` accepts (``accepts_recipient``), what is mail from ourselves or a
daemon, and to whom an automatic mail may go at all (``valid_recipient``, SPEC §4.6).

Separate because every other part of the window reads these rules (the SMTP door's RCPT,
the assessment in the parser process, intake, the staff desk) and none of them needs the
database to do so.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from core.actors import Actor
from core.config import Settings

SYSTEM_MAIL = Actor(kind="system", ref="mail:contact-window", door="mail")

# ``[REQ-000123]`` in a subject: a thread hint, honoured only from the request's own sender.
SUBJECT_TAG = re.compile(r"\[REQ-(\d{1,12})\]", re.I)
_REQ = re.compile(r"^\s*(?:REQ-)?0*(\d{1,12})\s*$", re.I)
DAEMON_LOCALS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|daemon|root|abuse|listserv|majordomo|"
    r"autoreply|auto-reply|owner-.*|.*-request|.*-bounces?)$",
    re.I,
)
_ROLE_LOCALS = frozenset(
    {"info", "support", "admin", "administrator", "sales", "ml", "webmaster", "hostmaster"}
)


def format_number(number: int) -> str:
    return f"REQ-{number:06d}"


def parse_number(value: str | int) -> int | None:
    if isinstance(value, int):
        return value
    match = _REQ.match(value)
    return int(match.group(1)) if match else None


def _reply_signature(secret: str, number: int) -> str:
    return hmac.new(secret.encode(), f"reply:{number}".encode(), hashlib.sha256).hexdigest()[:10]


def reply_address(settings: Settings, number: int) -> str:
    """The address a request's mail asks to be answered at: the contact address with a
    signed ``+r<number>-<sig>`` tag, so a reply threads even without headers and nobody
    can forge a tag for someone else's request."""
    local, _, domain = settings.contact_address.partition("@")
    sig = _reply_signature(settings.resolved_secret_key(), number)
    return f"{local}+r{number}-{sig}@{domain}"


def tagged_number(settings: Settings, address: str) -> int | None:
    """The request number of one of our signed reply addresses; ``None`` for any other
    address, a forged signature included."""
    local, _, domain = address.lower().partition("@")
    base_local, _, base_domain = settings.contact_address.lower().partition("@")
    if domain != base_domain or not local.startswith(base_local + "+r"):
        return None
    tag = local[len(base_local) + 2 :]
    number_text, _, sig = tag.partition("-")
    if not number_text.isdigit():
        return None
    number = int(number_text)
    expected = _reply_signature(settings.resolved_secret_key(), number)
    return number if hmac.compare_digest(sig, expected) else None


def _bounce_signature(secret: str, outbox_id: int) -> str:
    return hmac.new(secret.encode(), f"bounce:{outbox_id}".encode(), hashlib.sha256).hexdigest()[:10]


def return_path(settings: Settings, outbox_id: int) -> str:
    """The envelope sender of one outbox mail (VERP): the contact address with a signed
    ``+b<outbox id>-<sig>`` tag. A delivery report comes back to it, so the report names
    the mail it is about and nobody can make us believe a report for mail we never sent
    (SPEC §4.6: bounces *of our own mail*)."""
    local, _, domain = settings.contact_address.partition("@")
    sig = _bounce_signature(settings.resolved_secret_key(), outbox_id)
    return f"{local}+b{outbox_id}-{sig}@{domain}"


def bounced_outbox_id(settings: Settings, address: str) -> int | None:
    """The outbox row one of our signed return paths names; ``None`` for any other
    address, a forged signature included."""
    local, _, domain = address.strip().lower().partition("@")
    base_local, _, base_domain = settings.contact_address.lower().partition("@")
    if domain != base_domain or not local.startswith(base_local + "+b"):
        return None
    id_text, _, sig = local[len(base_local) + 2 :].partition("-")
    if not id_text.isdigit() or len(id_text) > 18:
        return None
    outbox_id = int(id_text)
    expected = _bounce_signature(settings.resolved_secret_key(), outbox_id)
    return outbox_id if hmac.compare_digest(sig, expected) else None


_PLUS_TAG = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


def inquiry_recipient(settings: Settings, address: str) -> tuple[bool, str | None]:
    """Is ``address`` the inquiry address (SPEC §4.8), and the support ID it names by a
    plus-address (``inquiry+ACME_A@…`` → ``ACME_A``)? A tag that cannot be a support ID
    name is refused at RCPT like any unknown address."""
    local, _, domain = address.strip().partition("@")
    base_local, _, base_domain = settings.inquiry_address.partition("@")
    if domain.lower() != base_domain.lower():
        return False, None
    if local.lower() == base_local.lower():
        return True, None
    prefix = base_local.lower() + "+"
    if local.lower().startswith(prefix) and _PLUS_TAG.match(local[len(prefix) :]):
        return True, local[len(prefix) :]
    return False, None


def accepts_recipient(settings: Settings, address: str) -> bool:
    """RCPT policy: the contact address, the inquiry address (plus-addressed support IDs
    too), our sender address, the signed return paths of our own mail (delivery reports
    come back to them) and reply addresses we generated; anything else is refused."""
    lowered = address.strip().lower()
    if lowered in own_addresses(settings) or inquiry_recipient(settings, address)[0]:
        return True
    return tagged_number(settings, lowered) is not None or bounced_outbox_id(settings, lowered) is not None


def own_addresses(settings: Settings) -> set[str]:
    return {settings.contact_address.lower(), settings.mail_from.lower(), settings.inquiry_address.lower()}


def valid_recipient(settings: Settings, address: str) -> bool:
    """May an automatic mail go to this address? Syntax, no CR/LF, not ours, no role or
    daemon mailbox (SPEC §4.6)."""
    if not address or any(c in address for c in "\r\n\x00") or len(address) > 254:
        return False
    lowered = address.lower()
    if lowered in own_addresses(settings) or accepts_recipient(settings, lowered):
        return False
    local, _, domain = lowered.partition("@")
    if not domain or DAEMON_LOCALS.match(local) or local in _ROLE_LOCALS:
        return False
    our_domains = {a.partition("@")[2] for a in own_addresses(settings)}
    if domain in our_domains:
        return False
    return _valid_syntax(address)


@lru_cache(maxsize=4096)
def _valid_syntax(address: str) -> bool:
    """email_validator's verdict on an address. Remembered: it takes ~0.1 ms and is
    asked for every recipient of every mail queued (twice for an inquiry's asker), while
    the same few addresses come back."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def thread_headers(references: list[str], parent: str | None) -> dict[str, str]:
    """``In-Reply-To`` and ``References`` for our mail answering ``parent``, so the
    customer's mail program shows it in the thread and their answer names it."""
    headers: dict[str, str] = {}
    chain = [r for r in references if r][-20:]
    if parent:
        headers["In-Reply-To"] = parent
        if parent not in chain:
            chain.append(parent)
    if chain:
        headers["References"] = " ".join(chain)
    return headers
