"""Support keys: the canonical form, the keyed hash, and whether a key may be used now.

SPEC §4.1: a key is valid from its contract's start (a key issued by mail from the next
business day) to the contract's end; unknown, outside the period, revoked or malformed
all answer with the one message ``support_key.invalid``. Failures count towards the
actor's throttle in scope ``support_key``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect

from core import throttle
from core.business_days import calendar_for
from core.clock import JST
from core.dates import day_text
from core.errors import InvalidSupportKey, KeyNotYetUsable
from core.hashing import Hasher
from core.models import Contract, SupportKey
from core.normalize import support_key as canonical
from core.snapshots import Query
from core.unit_of_work import UnitOfWork

MAX_LENGTH = 30
# Typed input longer than this is refused before any work; separators a person may add
# around a 30-character key still fit.
MAX_INPUT_LENGTH = 64
# No 0/O, 1/I/L: keys are read aloud on the phone and typed from paper.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
THROTTLE_SCOPE = "support_key"
_WELL_FORMED = re.compile(r"^[A-Z0-9]{1,30}$")
HASH_PURPOSE = "support-key"


def digest(hasher: Hasher, raw: str) -> str:
    """The stored form of a key, from any spelling a customer may type."""
    return hasher.digest(canonical(raw), purpose=HASH_PURPOSE)


def is_well_formed(raw: str) -> bool:
    """At most 30 letters and digits once the spelling is canonical (dashes, spaces and
    width do not count: they are how people copy a key, not part of it)."""
    return len(raw) <= MAX_INPUT_LENGTH and bool(_WELL_FORMED.match(canonical(raw)))


def mask(last4: str) -> str:
    """How a key is shown anywhere after it was issued: only the last four characters."""
    return f"****-****-{last4}"


@dataclass(frozen=True)
class UsableKey:
    key: SupportKey
    contract: Contract


def today(uow: UnitOfWork) -> date:
    """Contract dates are Japanese calendar dates."""
    return uow.clock.now().astimezone(JST).date()


def usable_on(key: SupportKey, contract: Contract, day: date) -> bool:
    if key.revoked_at is not None:
        return False
    starts = max(contract.starts_on, key.usable_from) if key.usable_from else contract.starts_on
    return starts <= day <= contract.ends_on


def waits_for_mail_day(key: SupportKey, contract: Contract, day: date) -> bool:
    """A key sent by mail, otherwise good, before the business day it starts to work:
    its holder is told the day instead of the one invalid-key answer."""
    return (
        key.revoked_at is None
        and key.usable_from is not None
        and day < key.usable_from <= contract.ends_on
        and contract.starts_on <= day
    )


# Built once: the registration's key step runs it (bench/slack.py).
_FIND = (
    select(SupportKey, Contract)
    .join(Contract, Contract.id == SupportKey.contract_id)
    .where(SupportKey.key_hash == bindparam("key_hash"))
)


async def find(uow: UnitOfWork, raw: str) -> UsableKey | None:
    """The key and its contract if it exists (usable or not); no throttling here."""
    if not is_well_formed(raw):
        return None
    row = (await uow.session.execute(_FIND, {"key_hash": digest(uow.hasher, raw)})).first()
    return UsableKey(row[0], row[1]) if row else None


_KEY_FIELDS = tuple(a.key for a in sa_inspect(SupportKey).column_attrs)
_CONTRACT_FIELDS = tuple(a.key for a in sa_inspect(Contract).column_attrs)
_READ = Query(
    select(*(getattr(SupportKey, f) for f in _KEY_FIELDS), *(getattr(Contract, f) for f in _CONTRACT_FIELDS))
    .join(Contract, Contract.id == SupportKey.contract_id)
    .where(SupportKey.key_hash == bindparam("key_hash"))
)


async def _read(uow: UnitOfWork, raw: str) -> UsableKey | None:
    """``find`` for a caller that only reads the key and its contract: the rows become
    objects the session does not track (an ORM load cost several times the statement,
    bench/slack.py). Changing them changes nothing; use ``find`` for that."""
    if not is_well_formed(raw):
        return None
    found = await uow.rows(_READ, key_hash=digest(uow.hasher, raw))
    if not found:
        return None
    values = found[0]
    n = len(_KEY_FIELDS)
    return UsableKey(
        SupportKey(**dict(zip(_KEY_FIELDS, values[:n], strict=True))),
        Contract(**dict(zip(_CONTRACT_FIELDS, values[n:], strict=True))),
    )


async def check_usable(uow: UnitOfWork, raw: str, actor_ref: str) -> UsableKey:
    """The key if it may be used today; otherwise count a failure and raise. The
    objects returned are for reading (ids, contract, last four characters).

    Raises ``Throttled`` before looking at the key when the actor is over the limit, so
    a throttled actor learns nothing about the key either; ``KeyNotYetUsable`` (not
    counted as a failure) for a key sent by mail tried before its first business day.
    """
    await throttle.check(uow, THROTTLE_SCOPE, actor_ref)
    found = await _read(uow, raw)
    day = today(uow)
    if found is not None and waits_for_mail_day(found.key, found.contract, day):
        assert found.key.usable_from is not None
        first = found.key.usable_from
        raise KeyNotYetUsable(day_text(first, "ja"), day_text(first, "en"))
    if found is None or not usable_on(found.key, found.contract, day):
        await throttle.record_failure(uow, THROTTLE_SCOPE, actor_ref, detail="invalid support key")
        raise InvalidSupportKey()
    return found


def generate() -> str:
    """A new key ``SK-XXXX-XXXX-XXXX``: 12 random characters of 31, about 59 bits."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))
    return "SK-" + "-".join(groups)


async def issue(
    uow: UnitOfWork, contract: Contract, *, via: Literal["staff", "mail"] = "staff"
) -> tuple[str, SupportKey]:
    """Add a new key to the contract; the raw key is returned once and never stored.

    A key sent by mail is usable from the next business day (weekends, Japanese holidays
    and configured closures skipped), so a key in transit is not yet worth stealing.
    """
    raw = generate()
    usable_from = None
    if via == "mail":
        usable_from = calendar_for(uow.settings).next_business_day(today(uow))
    row = SupportKey(
        key_hash=digest(uow.hasher, raw),
        last4=canonical(raw)[-4:],
        contract_id=contract.id,
        issued_via=via,
        usable_from=usable_from,
        issued_at=uow.clock.now(),
    )
    uow.session.add(row)
    await uow.session.flush()
    return raw, row
