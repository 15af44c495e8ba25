"""A draft article from an answered inquiry (SPEC §4.9 ``kb from INQ``): the question
and its answer, written once, become knowledge others find before asking.

Separate from ``editing`` because nothing is written here: the draft is only read and
handed to staff, who edit it in the ``kb new`` modal and publish it through
``editing.create`` (audited there). Personal data must not reach readers of an article,
so the obvious pieces are taken out before staff see the draft — the asker's names
(kanji and kana, with and without the space), email address, company name (with and
without its legal form), and anything that looks like an email address or a Japanese
phone number — and the draft says which kinds were removed; what cannot be recognised
(a colleague's name in a signature) is left to staff, and the notice says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from core.actors import Actor
from core.errors import Conflict, NotFound
from core.inquiries.numbers import OTHER_PRODUCT, format_number, parse_number
from core.inquiries.tables import Inquiry, InquiryMessage
from core.messages import render
from core.models import Account, Company
from core.snapshots import Query, Reader, reads
from core.staff import require_staff

DRAFT_VISIBILITY = "contract"
KINDS = ("name", "company", "email", "phone")

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+[@＠][A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Japanese numbers (03-1234-5678, 090 1234 5678, 0120-123-456, +81-3-1234-5678), in
# ASCII or full-width digits and dashes; the digit count is checked after the match.
_DASH = r"[\-‐－ー−―\s]?"
# Bounded by what is not part of a number or a code (Japanese text is, for ``\w``).
_EDGE = r"0-9０-９A-Za-z.\-－"
_PHONE = re.compile(
    rf"(?<![{_EDGE}+])(?:\+81{_DASH}|[0０])\d{{1,4}}{_DASH}\d{{1,4}}{_DASH}\d{{3,4}}(?![{_EDGE}])"
)
# Legal forms a company name starts or ends with (株式会社顧客A → 顧客A).
_LEGAL = re.compile(
    r"^(株式会社|有限会社|合同会社|一般社団法人|（株）|\(株\))\s*|\s*(株式会社|有限会社|合同会社|（株）|\(株\))$"
)

_INQUIRY = Query(
    select(
        Inquiry.subject,
        Inquiry.product_family,
        Inquiry.answered_at,
        Inquiry.asker_email,
        Account.email,
        Account.last_name,
        Account.first_name,
        Account.last_name_kana,
        Account.first_name_kana,
        Account.phone,
        Company.name,
    )
    .join(Account, Account.id == Inquiry.asker_account_id)
    .join(Company, Company.id == Account.company_id)
    .where(Inquiry.id == bindparam("number"))
)
_MESSAGES = Query(
    select(InquiryMessage.kind, InquiryMessage.body)
    .where(InquiryMessage.inquiry_id == bindparam("number"))
    .order_by(InquiryMessage.id)
)


@dataclass(frozen=True)
class Draft:
    """An article as staff start editing it; ``removed`` counts what was taken out, by
    kind (``KINDS``), only the kinds found."""

    number: str  # INQ-000123
    title: str
    body: str
    product_family: str | None
    visibility: str
    removed: dict[str, int]


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


class _Scrubber:
    """Replaces personal data with a placeholder of its kind and counts each."""

    def __init__(self, locale: str, known: dict[str, list[str]]) -> None:
        self.locale = locale
        self.removed: dict[str, int] = {}
        # Longest first, so 山田 太郎 goes before 山田.
        pairs = {(v.strip(), kind) for kind, values in known.items() for v in values if len(v.strip()) >= 2}
        self.known = sorted(pairs, key=lambda p: -len(p[0]))

    def _mark(self, kind: str) -> str:
        self.removed[kind] = self.removed.get(kind, 0) + 1
        return render(f"kb.draft.placeholder.{kind}", self.locale)

    def _marker(self, kind: str) -> Callable[[re.Match[str]], str]:
        return lambda _match: self._mark(kind)

    def __call__(self, text: str) -> str:
        text = _EMAIL.sub(lambda m: self._mark("email"), text)
        text = _PHONE.sub(lambda m: self._mark("phone") if 10 <= _digits(m[0]) <= 12 else m[0], text)
        for value, kind in self.known:
            pattern = re.escape(value)
            if value.isascii():
                pattern = rf"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])"
            text = re.sub(pattern, self._marker(kind), text, flags=re.IGNORECASE)
        return text


def _known(row: tuple[object, ...]) -> dict[str, list[str]]:
    _s, _f, _a, asker_email, email, last, first, last_kana, first_kana, phone, company = (
        str(v or "") for v in row
    )
    names = [
        f"{last} {first}",
        f"{last}　{first}",
        f"{last}{first}",
        f"{first} {last}",
        f"{last_kana} {first_kana}",
        f"{last_kana}　{first_kana}",
        f"{last_kana}{first_kana}",
        last,
        first,
        last_kana,
        first_kana,
    ]
    return {
        "email": [asker_email, email],
        "phone": [phone] if _digits(phone) >= 6 else [],
        "company": [company, _LEGAL.sub("", company)],
        "name": names,
    }


@reads
async def draft_from_inquiry(source: Reader, actor: Actor, number: str, locale: str = "ja") -> Draft:
    """The draft of ``number`` for staff: its subject as the title, the customer's
    question and the staff answers as Markdown, its product family (none for
    ``その他``), visibility ``contract``. ``NotFound`` for an unknown number, ``Conflict``
    when no answer has been sent yet (an internal note is not an answer)."""
    require_staff(actor)
    parsed = parse_number(number)
    row = await source.first(_INQUIRY, number=parsed) if parsed is not None else None
    if row is None:
        raise NotFound("kb.draft.not_found", number=number.strip())
    label = format_number(parsed or 0)
    messages = [(str(kind), str(body)) for kind, body in await source.rows(_MESSAGES, number=parsed)]
    if not any(kind == "answer" for kind, _ in messages):
        raise Conflict("kb.draft.not_answered", number=label)
    scrub = _Scrubber(locale, _known(tuple(row)))
    parts: list[str] = []
    for kind, body in messages:
        if kind == "note":
            continue  # internal, never published
        heading = "kb.draft.question" if kind == "customer" else "kb.draft.answer"
        parts.append(f"## {render(heading, locale)}\n\n{scrub(body.strip())}")
    title = scrub(str(row[0]))
    family = str(row[1])
    return Draft(
        number=label,
        title=title,
        body="\n\n".join(parts),
        product_family=None if family == OTHER_PRODUCT else family,
        visibility=DRAFT_VISIBILITY,
        removed={kind: scrub.removed[kind] for kind in KINDS if kind in scrub.removed},
    )
