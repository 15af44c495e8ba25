"""The vendor data import (SPEC §3, §9): what it writes, what it refuses, and that a
refused or interrupted import leaves the database exactly as it was."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from core import importing, support_keys
from core.actors import SYSTEM_CLI
from core.importing import ImportRejected, Progress
from core.models import (
    AuditRecord,
    Base,
    Company,
    Contract,
    PendingContact,
    SupportId,
    SupportIdContact,
    SupportKey,
)
from core.unit_of_work import Core
from madoguchi import datagen
from tests import factories

VENDOR_FILE: dict[str, Any] = {
    "companies": [
        {
            "code": "C001",
            "name": "顧客Ａ",
            "postal_code": "140-0002",
            "address": "東京都品川区東品川4-12-7",
            "phone": "03-5780-2111",
        },
        {"code": "C002", "name": "顧客Q", "address": "大阪府大阪市北区梅田1-1-3"},
    ],
    "contracts": [
        {
            "number": "K-0001",
            "company": "C001",
            "product_family": "製品Aファミリ",
            "end_user": "顧客A",
            "starts_on": "2024-01-01",
            "ends_on": "2030-12-31",
            "requires_terms": False,
            "keys": ["SK-7Q2M-4TXA-9KPL", "SK-7Q2M-4TXA-0002"],
        },
        {
            "number": "K-0002",
            "company": "C002",
            "starts_on": "2024-01-01",
            "ends_on": "2030-12-31",
            "requires_terms": True,
            "keys": ["SK-MIGR-0001-0001"],
        },
    ],
    "support_ids": [
        {
            "name": "MIGRATED_001",
            "description": "移行済み",
            "keys": ["SK-MIGR-0001-0001"],
            "contacts": ["Registered@Customer-Q.example.jp", "newcomer@customer-q.example.jp"],
        }
    ],
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "vendor.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


async def run_import(domain: Core, path: Path, **kwargs: Any) -> importing.ImportReport:
    async with domain.uow() as uow:
        return await importing.import_file(uow, SYSTEM_CLI, path, **kwargs)


async def dump(domain: Core) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for "nothing changed" comparisons."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with domain.uow() as uow:
        for table in Base.metadata.sorted_tables:
            rows = (await uow.session.execute(select(table))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def counts(report: importing.ImportReport) -> dict[str, tuple[int, int, int]]:
    return {kind: (c.created, c.updated, c.unchanged) for kind, c in report.counts.items()}


async def test_a_small_file_creates_every_kind_of_row(domain: Core, tmp_path: Path) -> None:
    report = await run_import(domain, write(tmp_path, VENDOR_FILE))

    assert counts(report) == {
        "companies": (2, 0, 0),
        "contracts": (2, 0, 0),
        "keys": (3, 0, 0),
        "support_ids": (1, 0, 0),
        "support_id_keys": (1, 0, 0),
        "contacts": (2, 0, 0),
        "articles": (0, 0, 0),
    }
    async with domain.uow() as uow:
        company = await uow.session.scalar(select(Company).where(Company.code == "C001"))
        assert company is not None
        assert (company.name, company.name_norm, company.prefecture) == ("顧客Ａ", "顧客a", "東京都")
        assert company.address_norm == "東京都品川区東品川4-12-7"
        found = await support_keys.check_usable(uow, "sk-7q2m-4txa-9kpl", "test")
        assert found.contract.number == "K-0001"
        assert found.key.last4 == "9KPL"
        contract = await uow.session.scalar(select(Contract).where(Contract.number == "K-0002"))
        assert contract is not None and contract.requires_terms


async def test_keys_are_stored_only_as_keyed_hashes_and_last_four(domain: Core, tmp_path: Path) -> None:
    await run_import(domain, write(tmp_path, VENDOR_FILE))
    tables = await dump(domain)
    flat = repr(tables).upper().replace("-", "")
    for contract in VENDOR_FILE["contracts"]:
        for key in contract["keys"]:
            assert key.replace("-", "") not in flat
    async with domain.uow() as uow:
        hashes = set(await uow.session.scalars(select(SupportKey.key_hash)))
        assert support_keys.digest(uow.hasher, "SK-7Q2M-4TXA-9KPL") in hashes


async def test_migrated_support_id_links_registered_accounts_and_keeps_others_pending(
    domain: Core, tmp_path: Path
) -> None:
    async with domain.uow() as uow:
        account = await factories.account(
            uow, await factories.company(uow, "顧客Q", code="CQ"), "registered@customer-q.example.jp"
        )
        await uow.commit()
    await run_import(domain, write(tmp_path, VENDOR_FILE))
    async with domain.uow() as uow:
        support_id = await uow.session.scalar(select(SupportId).where(SupportId.name_key == "migrated_001"))
        assert support_id is not None and support_id.migrated and support_id.name == "MIGRATED_001"
        contacts = (await uow.session.execute(select(SupportIdContact.account_id))).scalars().all()
        pending = (await uow.session.execute(select(PendingContact.email))).scalars().all()
        assert contacts == [account.id]
        assert pending == ["newcomer@customer-q.example.jp"]
        in_id = (
            await uow.session.scalars(
                select(SupportKey.last4).where(SupportKey.support_id_id == support_id.id)
            )
        ).all()
        assert in_id == ["0001"]
        audit = (await uow.session.scalars(select(AuditRecord.action))).all()
        assert "import.completed" in audit and "support_id.imported" in audit


async def test_reimporting_the_same_file_changes_nothing(domain: Core, tmp_path: Path) -> None:
    path = write(tmp_path, VENDOR_FILE)
    await run_import(domain, path)
    before = await dump(domain)
    again = await run_import(domain, path)
    after = await dump(domain)

    assert not again.changed
    assert {kind: c.unchanged for kind, c in again.counts.items()} == {
        "companies": 2,
        "contracts": 2,
        "keys": 3,
        "support_ids": 1,
        "support_id_keys": 1,
        "contacts": 2,
        "articles": 0,
    }
    # Only the audit trail grows: one record saying the import ran.
    before.pop("audit_log")
    added = [row for row in after.pop("audit_log")]
    assert after == before
    assert sum(1 for row in added if "import.completed" in row) == 2


async def test_a_changed_row_is_updated_and_counted(domain: Core, tmp_path: Path) -> None:
    await run_import(domain, write(tmp_path, VENDOR_FILE))
    changed = copy.deepcopy(VENDOR_FILE)
    changed["companies"][1]["name"] = "顧客Ｑホールディングス"
    changed["contracts"][0]["ends_on"] = "2031-03-31"
    changed["contracts"][0]["keys"].append("SK-NEW0-0000-0003")
    report = await run_import(domain, write(tmp_path, changed, "v2.json"))

    assert counts(report)["companies"] == (0, 1, 1)
    assert counts(report)["contracts"] == (0, 1, 1)
    assert counts(report)["keys"] == (1, 0, 3)
    async with domain.uow() as uow:
        company = await uow.session.scalar(select(Company).where(Company.code == "C002"))
        assert company is not None and company.name_norm == "顧客qホールディングス"


def _with(path: tuple[Any, ...], value: Any, *, delete: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(VENDOR_FILE)
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


BAD_ROWS = {
    "missing field": (
        _with(("contracts", 1, "starts_on"), None, delete=True),
        "contracts[1].starts_on",
        "missing",
    ),
    "bad date": (_with(("contracts", 1, "ends_on"), "2030-02-30"), "contracts[1].ends_on", "not_a_date"),
    "unknown company": (
        _with(("contracts", 1, "company"), "C999"),
        "contracts[1].company",
        "unknown_company",
    ),
    "key too long": (
        _with(("contracts", 0, "keys", 1), "SK-" + "A" * 28),
        "contracts[0].keys[1]",
        "key_too_long",
    ),
    "duplicate key": (
        _with(("contracts", 1, "keys"), ["SK-MIGR-0001-0001", "sk7q2m4txa9kpl"]),
        "contracts[1].keys[1]",
        "duplicate",
    ),
    "malformed key": (
        _with(("contracts", 0, "keys", 0), "SK-7Q2M!"),
        "contracts[0].keys[0]",
        "key_malformed",
    ),
    "duplicate contract": (_with(("contracts", 1, "number"), "K-0001"), "contracts[1].number", "duplicate"),
    "duplicate company": (_with(("companies", 1, "code"), "C001"), "companies[1].code", "duplicate"),
    "company name not a string": (_with(("companies", 0, "name"), 42), "companies[0].name", "not_a_string"),
    "requires_terms not a boolean": (
        _with(("contracts", 0, "requires_terms"), "no"),
        "contracts[0].requires_terms",
        "not_a_boolean",
    ),
    "ends before it starts": (
        _with(("contracts", 0, "ends_on"), "2023-12-31"),
        "contracts[0].ends_on",
        "ends_before_start",
    ),
    "bad support ID name": (
        _with(("support_ids", 0, "name"), "移行 001"),
        "support_ids[0].name",
        "support_id_name",
    ),
    "unknown key in support ID": (
        _with(("support_ids", 0, "keys", 0), "SK-NOPE-NOPE-NOPE"),
        "support_ids[0].keys[0]",
        "unknown_key",
    ),
    "bad contact": (
        _with(("support_ids", 0, "contacts", 1), "not-an-address"),
        "support_ids[0].contacts[1]",
        "bad_email",
    ),
    "row not an object": (_with(("contracts", 1), ["K-0002"]), "contracts[1]", "not_an_object"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS), ids=list(BAD_ROWS))
async def test_a_bad_row_is_reported_with_its_position_and_nothing_is_written(
    domain: Core, tmp_path: Path, case: str
) -> None:
    data, path, reason = BAD_ROWS[case]
    before = await dump(domain)
    with pytest.raises(ImportRejected) as caught:
        await run_import(domain, write(tmp_path, data))
    assert caught.value.path == path
    assert caught.value.reason == f"import.reason.{reason}"
    assert importing.describe(caught.value, "en").startswith(f"{path}: ")
    assert await dump(domain) == before


async def test_a_duplicate_key_names_where_it_first_appeared(domain: Core, tmp_path: Path) -> None:
    data, _, _ = BAD_ROWS["duplicate key"]
    with pytest.raises(ImportRejected) as caught:
        await run_import(domain, write(tmp_path, data))
    assert importing.describe(caught.value, "en") == (
        "contracts[1].keys[1]: duplicate of contracts[0].keys[0] (nothing of the file was imported)"
    )
    assert "重複" in importing.describe(caught.value, "ja")


async def test_a_file_that_is_not_json_is_refused(domain: Core, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"companies": [{"code": "C1", "name": "x"}', encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        await run_import(domain, path)
    assert caught.value.reason == "import.reason.invalid_json"


async def test_contracts_may_refer_to_companies_imported_earlier(domain: Core, tmp_path: Path) -> None:
    await run_import(domain, write(tmp_path, VENDOR_FILE))
    later = {
        "contracts": [
            {
                "number": "K-0100",
                "company": "C002",
                "starts_on": "2025-01-01",
                "ends_on": "2029-12-31",
                "keys": [],
            }
        ]
    }
    report = await run_import(domain, write(tmp_path, later, "later.json"))
    assert counts(report)["contracts"] == (1, 0, 0)


async def test_a_support_id_name_a_customer_already_uses_is_refused(domain: Core, tmp_path: Path) -> None:
    async with domain.uow() as uow:
        uow.session.add(
            SupportId(
                name="Migrated_001", name_key="migrated_001", migrated=False, created_at=uow.clock.now()
            )
        )
        await uow.commit()
    before = await dump(domain)
    with pytest.raises(ImportRejected) as caught:
        await run_import(domain, write(tmp_path, VENDOR_FILE))
    assert (caught.value.path, caught.value.reason) == (
        "support_ids[0].name",
        "import.reason.support_id_taken",
    )
    assert await dump(domain) == before


async def test_a_key_a_customer_put_in_another_support_id_is_not_taken_away(
    domain: Core, tmp_path: Path
) -> None:
    await run_import(domain, write(tmp_path, VENDOR_FILE))
    async with domain.uow() as uow:
        own = SupportId(name="OWN", name_key="own", migrated=False, created_at=uow.clock.now())
        uow.session.add(own)
        await uow.session.flush()
        key = await uow.session.scalar(
            select(SupportKey).where(
                SupportKey.key_hash == support_keys.digest(uow.hasher, "SK-7Q2M-4TXA-9KPL")
            )
        )
        assert key is not None
        key.support_id_id = own.id
        await uow.commit()
    data = _with(("support_ids", 0, "keys"), ["SK-MIGR-0001-0001", "SK-7Q2M-4TXA-9KPL"])
    before = await dump(domain)
    with pytest.raises(ImportRejected) as caught:
        await run_import(domain, write(tmp_path, data, "v2.json"))
    assert (caught.value.path, caught.value.reason) == (
        "support_ids[0].keys[1]",
        "import.reason.key_in_other_support_id",
    )
    assert await dump(domain) == before


async def test_keys_of_one_contract_cannot_be_split_over_two_support_ids(
    domain: Core, tmp_path: Path
) -> None:
    data = copy.deepcopy(VENDOR_FILE)
    data["support_ids"].append({"name": "MIGRATED_002", "keys": ["SK-7Q2M-4TXA-9KPL"], "contacts": []})
    data["support_ids"].append({"name": "MIGRATED_003", "keys": ["SK-7Q2M-4TXA-0002"], "contacts": []})
    with pytest.raises(ImportRejected) as caught:
        await run_import(domain, write(tmp_path, data))
    assert caught.value.reason == "import.reason.contract_split"
    assert caught.value.path in ("support_ids[1].keys[0]", "support_ids[2].keys[0]")


async def test_a_bad_last_row_of_a_large_file_writes_nothing(domain: Core, tmp_path: Path) -> None:
    await run_import(domain, write(tmp_path, VENDOR_FILE))
    before = await dump(domain)
    shape = datagen.scaled(20_000)
    big = tmp_path / "big.json"
    bad_last = {"name": "LAST", "keys": ["SK-" + "X" * 40], "contacts": []}
    datagen.write(big, shape, last_row=bad_last)
    with pytest.raises(ImportRejected) as caught:
        # Small batches: many of them reach the staging tables before the bad row.
        await run_import(domain, big, batch_size=500)
    assert caught.value.path == f"support_ids[{shape.support_ids - 1}].keys[0]"
    assert await dump(domain) == before


async def test_progress_is_reported_through_the_callback_up_to_done(domain: Core, tmp_path: Path) -> None:
    seen: list[Progress] = []
    big = tmp_path / "big.json"
    datagen.write(big, datagen.scaled(5_000))
    report = await run_import(domain, big, progress=seen.append)
    phases = [p.phase for p in seen]
    assert phases[0] == "companies" and phases[-1] == "writing"
    assert {"contracts", "support_ids"} <= set(phases)
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert seen[-1].done == pytest.approx(1.0)
    assert seen[-1].rows == report.rows == 500 + 2_500 + 500


async def test_staging_tables_do_not_outlive_the_import(domain: Core, tmp_path: Path) -> None:
    await run_import(domain, write(tmp_path, VENDOR_FILE))
    async with domain.uow() as uow:
        if uow.session.bind.dialect.name == "sqlite":  # type: ignore[union-attr]
            query = "SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'import_%'"
        else:
            query = "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'import\\_%'"
        assert await uow.session.scalar(text(query)) == 0
