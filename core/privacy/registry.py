"""Where personal data lives: one declaration per table of ``Base.metadata`` (APPI, SPEC §4.11).

``account export`` and ``account erase`` walk these declarations, never a list of their
own, so the two cannot drift apart. Each ``Rule`` says

* ``about``: which rows are *about* a person (theirs: exported, and erased);
* ``mentions``: further rows that may *mention* them (a colleague's message in a thread
  the person asked; scrubbed on erase, never exported, since they are someone else's);
* ``personal``: the columns holding personal data and how erasure treats each
  (``Treatment``);
* ``other``: columns whose name looks personal but are not (a company's address), with
  the reason; ``secret``: columns never exported (hashes, sealed links);
* ``delete``: rows that mean nothing once the person is gone (open links, throttles).

Why a registry and a test rather than care: the next table someone adds with an
``email`` or a ``body`` column would otherwise be silently missed by both commands.
``undeclared(metadata)`` lists every table without a rule and every column that looks
personal (by name or by being free text, JSON or bytes) but is declared nowhere;
``tests/unit/test_personal_data_registry.py`` fails on any of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlalchemy import JSON, LargeBinary, MetaData, Table, Text, and_, cast, func, or_, select
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class Person:
    """Whom a request is about: the address asked for and, when there is one, the account."""

    email: str
    account_id: int | None = None
    # (team, user) of the account's Slack user, when linked.
    slack_user: tuple[str, str] | None = None
    # What erasure looks for inside free text: names, kana, phone, address, email.
    values: tuple[str, ...] = ()

    @property
    def account_ref(self) -> str:
        return f"account:{self.account_id}"


class Treatment(Enum):
    """How ``erase`` replaces one personal column of a row about (or mentioning) the person."""

    # An address: the person's own becomes the pseudonym address; others are kept.
    EMAIL = "email"
    # A name column of the account: the pseudonym.
    PSEUDONYM = "pseudonym"
    # Contact details of the account (kana, phone, address, department…): emptied.
    CLEAR = "clear"
    # Free text written by someone else: the person's values inside it are replaced.
    TEXT = "text"
    # Free text the person wrote (``Rule.own``): replaced as a whole; someone else's: as TEXT.
    OWN_TEXT = "own_text"
    # JSON: every string inside treated as TEXT, an address equal to the person's as EMAIL.
    JSON = "json"
    # Raw bytes (a stored mail): emptied.
    BYTES = "bytes"


Condition = Callable[[Table, Person, MetaData], ColumnElement[bool] | None]


@dataclass(frozen=True)
class Rule:
    about: tuple[Condition, ...] = ()
    mentions: tuple[Condition, ...] = ()
    personal: Mapping[str, Treatment] = field(default_factory=dict)
    other: Mapping[str, str] = field(default_factory=dict)
    secret: tuple[str, ...] = ()
    delete: bool = False
    # Whether a row (as a mapping of its columns) was written by the person (OWN_TEXT).
    own: Callable[[Mapping[str, Any], Person], bool] | None = None
    # Extra values for an erased row (e.g. an undelivered mail stops).
    after: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None


# ----------------------------------------------------------------------------- conditions


def by_account(column: str) -> Condition:
    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        return t.c[column] == p.account_id if p.account_id is not None else None

    return condition


def by_email(column: str) -> Condition:
    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        return func.lower(t.c[column]) == p.email

    return condition


def by_account_ref(column: str) -> Condition:
    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        return t.c[column] == p.account_ref if p.account_id is not None else None

    return condition


def by_ref(column: str) -> Condition:
    """An actor reference of the person: ``mail:<address>`` or their Slack user's."""

    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        refs = [f"mail:{p.email}"]
        if p.slack_user is not None:
            refs.append(f"slack:{p.slack_user[0]}:{p.slack_user[1]}")
        return t.c[column].in_(refs)

    return condition


def text_contains_email(column: str) -> Condition:
    """A JSON or text column naming the address anywhere (recipients, audit details).

    An address is ASCII, so it reads the same in JSON however it was escaped."""

    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        return func.lower(cast(t.c[column], Text)).contains(p.email, autoescape=True)

    return condition


def json_names_person(column: str) -> Condition:
    """A JSON column holding one of the person's names or their phone (a staff post's
    "asker"). Stored as JSON's ASCII escapes (``\\u5c71``), so that is what is looked for.
    A *mention* only: another person may share a first name."""

    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        names = [json.dumps(v)[1:-1] for v in p.values if v != p.email]
        if not names:
            return None
        return or_(*(cast(t.c[column], Text).contains(n, autoescape=True) for n in names))

    return condition


def slack_user(team: str, user: str) -> Condition:
    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        if p.slack_user is None:
            return None
        return and_(t.c[team] == p.slack_user[0], t.c[user] == p.slack_user[1])

    return condition


def _requests_of(p: Person, md: MetaData) -> Any:
    r = md.tables["requests"]
    whose = func.lower(r.c.sender) == p.email
    if p.account_id is not None:
        whose = or_(whose, r.c.account_id == p.account_id)
    return select(r.c.id).where(whose)


def in_requests_of_person(column: str) -> Condition:
    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        return t.c[column].in_(_requests_of(p, md))

    return condition


def _inquiries_of(p: Person, md: MetaData) -> Any:
    i = md.tables["inquiries"]
    whose = func.lower(i.c.asker_email) == p.email
    if p.account_id is not None:
        whose = or_(whose, i.c.asker_account_id == p.account_id)
    return select(i.c.id).where(whose)


def _attachments_of(p: Person, md: MetaData) -> Any:
    """Files the person sent: with their requests, with their inquiry messages."""
    a = md.tables["attachments"]
    owned = [and_(a.c.owner_kind == "request", a.c.owner_id.in_(_requests_of(p, md)))]
    if p.account_id is not None:
        m = md.tables["inquiry_messages"]
        mine = select(m.c.id).where(m.c.author_account_id == p.account_id)
        owned.append(and_(a.c.owner_kind.in_(("inquiry_message", "inquiry")), a.c.owner_id.in_(mine)))
    return select(a.c.id).where(or_(*owned))


def attachment_of_person(column: str) -> Condition:
    def condition(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
        return t.c[column].in_(_attachments_of(p, md))

    return condition


def staff_messages_in_inquiries_of_person(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
    """Staff answers and notes in the person's inquiries are about them; a colleague's
    own message there is the colleague's (``mentions``, not ``about``)."""
    return and_(t.c.inquiry_id.in_(_inquiries_of(p, md)), t.c.kind != "customer")


def inquiry_threads_of_person(t: Table, p: Person, md: MetaData) -> ColumnElement[bool] | None:
    """Every message of a thread the person asked or wrote in (to scrub their values)."""
    threads = _inquiries_of(p, md)
    if p.account_id is not None:
        m = md.tables["inquiry_messages"]
        threads = threads.union(select(m.c.inquiry_id).where(m.c.author_account_id == p.account_id))
    return t.c.inquiry_id.in_(threads)


# ----------------------------------------------------------------------------- the rules

_COMPANY = "a company's data (the customer organisation), not a person's"
_SLACK_ID = "a Slack id or workspace field, not a person's name"
_VENDOR = "written by the vendor's staff or the system; no customer data"

RULES: dict[str, Rule] = {
    "accounts": Rule(
        about=(by_account("id"), by_email("email")),
        personal={
            "email": Treatment.EMAIL,
            "last_name": Treatment.PSEUDONYM,
            "first_name": Treatment.CLEAR,
            "last_name_kana": Treatment.CLEAR,
            "first_name_kana": Treatment.CLEAR,
            # Staff find's keys of the name and its reading (0015_find_people): an erased
            # person is found by name no more.
            "name_norm": Treatment.CLEAR,
            "kana_norm": Treatment.CLEAR,
            "department": Treatment.CLEAR,
            "title": Treatment.CLEAR,
            "phone": Treatment.CLEAR,
            "postal_code": Treatment.CLEAR,
            "prefecture": Treatment.CLEAR,
            "city": Treatment.CLEAR,
            "street": Treatment.CLEAR,
            "slack_team_id": Treatment.CLEAR,
            "slack_user_id": Treatment.CLEAR,
        },
        secret=("password_hash",),
        after=lambda row: {"status": "erased", "password_hash": None, "marketing_opt_in": False},
    ),
    "account_tokens": Rule(about=(by_account("account_id"),), secret=("token_hash",), delete=True),
    "support_id_contacts": Rule(about=(by_account("account_id"),)),
    "pending_contacts": Rule(about=(by_email("email"),), personal={"email": Treatment.EMAIL}),
    "support_id_ccs": Rule(about=(by_email("email"),), personal={"email": Treatment.EMAIL}),
    "terms_agreements": Rule(about=(by_account("account_id"),)),
    "conversations": Rule(
        about=(by_ref("actor"), text_contains_email("data")),
        personal={"actor": Treatment.TEXT, "data": Treatment.JSON},
        delete=True,
    ),
    "throttle_failures": Rule(
        about=(by_ref("actor"),), personal={"actor": Treatment.TEXT, "detail": Treatment.TEXT}, delete=True
    ),
    "slack_users": Rule(
        about=(slack_user("team_id", "user_id"),),
        personal={"user_id": Treatment.CLEAR},
        delete=True,
    ),
    "inbound_mails": Rule(
        about=(by_email("mail_from"), in_requests_of_person("request_id")),
        personal={
            "mail_from": Treatment.EMAIL,
            "rcpt_tos": Treatment.JSON,
            "raw": Treatment.BYTES,
            "error": Treatment.TEXT,
        },
    ),
    "requests": Rule(
        about=(by_email("sender"), by_account("account_id")),
        personal={"sender": Treatment.EMAIL, "subject": Treatment.OWN_TEXT},
        other={"assignee": _SLACK_ID},
        own=lambda row, p: True,
    ),
    "request_messages": Rule(
        about=(in_requests_of_person("request_id"),),
        personal={
            "sender": Treatment.EMAIL,
            "subject": Treatment.OWN_TEXT,
            "body": Treatment.OWN_TEXT,
            "author": Treatment.TEXT,
        },
        own=lambda row, p: row["direction"] == "in",
    ),
    "mail_acks": Rule(about=(by_email("email"),), personal={"email": Treatment.EMAIL}),
    "mail_address_states": Rule(
        about=(by_email("email"),),
        personal={"email": Treatment.EMAIL, "bounce_reason": Treatment.TEXT},
        delete=True,
    ),
    "outbox": Rule(
        about=(
            text_contains_email("recipients"),
            text_contains_email("context"),
            text_contains_email("headers"),
        ),
        mentions=(json_names_person("context"),),
        personal={
            "recipients": Treatment.JSON,
            "context": Treatment.JSON,
            "headers": Treatment.JSON,
            "sealed": Treatment.BYTES,
            "last_error": Treatment.TEXT,
        },
        other={"claimed_by": "the worker instance's name"},
        secret=("sealed",),
        # An undelivered mail to an erased address never goes out.
        after=lambda row: (
            {"status": "failed", "last_error": "erased"} if row["status"] in ("pending", "sending") else {}
        ),
    ),
    "audit_log": Rule(
        about=(
            by_account("account_id"),
            by_account_ref("actor_id"),
            by_ref("actor_id"),
            text_contains_email("details"),
        ),
        mentions=(json_names_person("details"),),
        personal={"actor_id": Treatment.TEXT, "details": Treatment.JSON},
        other={"actor_kind": "account, staff or system"},
    ),
    "inquiries": Rule(
        about=(by_account("asker_account_id"), by_email("asker_email")),
        personal={"asker_email": Treatment.EMAIL, "subject": Treatment.OWN_TEXT},
        other={"assignee": _SLACK_ID, "product_family": "a product name"},
        own=lambda row, p: True,
    ),
    "inquiry_messages": Rule(
        about=(by_account("author_account_id"), staff_messages_in_inquiries_of_person),
        mentions=(inquiry_threads_of_person,),
        personal={"body": Treatment.OWN_TEXT, "author": Treatment.TEXT},
        other={"author_account_id": "the account's id; the account row itself is pseudonymised"},
        own=lambda row, p: p.account_id is not None and row["author_account_id"] == p.account_id,
    ),
    # Tables of areas merged separately (account lifecycle, attachments): a rule applies
    # once its table is in Base.metadata, and is checked by the registry test from then on.
    "signin_links": Rule(
        about=(by_account("account_id"), slack_user("slack_team_id", "slack_user_id")),
        personal={"slack_user_id": Treatment.CLEAR},
        secret=("token_hash",),
        delete=True,
    ),
    "email_changes": Rule(
        about=(by_account("account_id"), by_email("new_email")),
        personal={"new_email": Treatment.EMAIL},
        secret=("token_hash",),
        delete=True,
    ),
    "attachments": Rule(about=(attachment_of_person("id"),), personal={"name": Treatment.TEXT}, delete=True),
    "attachment_blobs": Rule(
        about=(attachment_of_person("attachment_id"),), personal={"data": Treatment.BYTES}, delete=True
    ),
    # Tables that hold nothing about a customer as a person.
    "companies": Rule(
        other={
            n: _COMPANY
            for n in (
                "name",
                "name_norm",
                "address",
                "address_norm",
                "phone",
                "postal_code",
                "prefecture",
                "code",
            )
        }
    ),
    "contracts": Rule(other={"end_user": _COMPANY, "product_family": "a product name"}),
    "support_ids": Rule(
        other={
            "name": "a support ID's name",
            "name_key": "a support ID's name",
            "description": "a support ID's description (about systems, not people)",
        }
    ),
    "support_keys": Rule(secret=("key_hash",)),
    # Knowledge articles are the vendor's writing for every customer; staff remove personal
    # data before publishing (``kb from INQ``, docs/knowledge.md).
    "articles": Rule(
        other={
            n: "a knowledge article's text, written by staff for every customer"
            for n in ("code", "title", "body", "tags", "title_grams", "body_grams", "body_text")
        }
        | {"product_family": "a product name", "withdrawn": "whether an article is hidden"}
    ),
    "processed_slack_events": Rule(),
    "slack_installations": Rule(
        other={
            n: _SLACK_ID
            for n in ("installer_user_id", "bot_user_id", "bot_scopes", "enterprise_id", "team_id")
        },
        secret=("sealed_bot_token",),
    ),
    "slack_oauth_states": Rule(secret=("state_hash",)),
}

# A column whose name says it may hold a person's data.
LOOKS_PERSONAL = re.compile(
    r"email|name|kana|phone|address|street|city|postal|prefecture|department|title|body|sender|"
    r"recipient|author|subject|mail_from|rcpt|raw|detail|context|data|header|actor|user_id|"
    r"assignee|description|end_user|reason|error|sealed|claimed_by"
)


def looks_personal(column: Any) -> bool:
    """By its name, or by being free text, JSON or bytes (anything can be written there)."""
    return bool(LOOKS_PERSONAL.search(column.name)) or isinstance(column.type, Text | JSON | LargeBinary)


def undeclared(metadata: MetaData, rules: Mapping[str, Rule] = RULES) -> list[str]:
    """``table`` or ``table.column`` for every table without a rule, every column that looks
    personal but is declared nowhere, and every declared column the table does not have."""
    problems: list[str] = []
    for name, table in sorted(metadata.tables.items()):
        rule = rules.get(name)
        if rule is None:
            problems.append(name)
            continue
        declared = {*rule.personal, *rule.other, *rule.secret}
        problems += [
            f"{name}.{c.name}" for c in table.columns if looks_personal(c) and c.name not in declared
        ]
        problems += [f"{name}.{c} (declared, no such column)" for c in sorted(declared - set(table.c.keys()))]
    return problems
