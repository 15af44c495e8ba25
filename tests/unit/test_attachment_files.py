"""File names, sniffed types and the all-or-nothing refusal of core.attachments (no I/O)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from core.attachments import (
    MAX_FILES,
    NewFile,
    Prepared,
    Unread,
    prepare,
    refusal,
    sanitise,
    served_type,
    sniff,
    with_links,
)
from core.config import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(MADOGUCHI_ATTACHMENT_MAX_BYTES=1000, _env_file=None)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\taro\\見積書.pdf", "見積書.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # RLO gone: what is shown is what it is
        ("a\r\nb\x00c.txt", "abc.txt"),
        ("e\u0301te\u0301.txt", "été.txt"),  # NFC
        ("  ..hidden.  ", "hidden"),
        ("..", "attachment"),
        ("", "attachment"),
        (None, "attachment"),
        ('x<y>:"|?*.txt', "x_y______.txt"),
        ("報告\u3000書.docx", "報告 書.docx"),
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
    ],
)
def test_names_lose_paths_controls_and_overrides(given: str | None, kept: str) -> None:
    assert sanitise(given) == kept


def test_a_long_name_is_cut_and_keeps_its_extension() -> None:
    name = sanitise("あ" * 300 + ".xlsx")
    assert len(name) == 120 and name.endswith("あ.xlsx")
    assert len(sanitise("x" * 300)) == 120


def test_types_come_from_the_bytes_and_unknown_is_octet_stream() -> None:
    assert sniff(b"%PDF-1.7\n" + bytes(100)) == "application/pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n" + bytes(100)) == "image/png"
    assert sniff(b"<!DOCTYPE html><html></html>") == "text/html"
    assert sniff(b"just some words") == "application/octet-stream"
    assert sniff(b"") == "application/octet-stream"


def test_only_inert_types_are_served_as_themselves() -> None:
    assert served_type("application/pdf") == "application/pdf"
    assert served_type("image/png") == "image/png"
    for active in ("text/html", "image/svg+xml", "application/xml", "application/javascript", "text/xml"):
        assert served_type(active) == "application/octet-stream"


def test_prepare_names_types_and_hashes(settings: Settings) -> None:
    data = b"%PDF-1.4\n" + bytes(50)
    ready = prepare(settings, NewFile("../a.pdf", data))
    assert ready == Prepared("a.pdf", "application/pdf", len(data), hashlib.sha256(data).hexdigest(), data)
    assert prepare(settings, NewFile("big.bin", bytes(1001))) == Unread("big.bin", 1001)


def test_one_file_over_the_limit_refuses_them_all(settings: Settings) -> None:
    refused = refusal(settings, [NewFile("ok.txt", b"ok"), NewFile("../big.bin", bytes(1001))])
    assert refused is not None
    assert refused.message_id == "attachments.too_large"
    assert refused.params["name"] == "big.bin"
    assert refusal(settings, [NewFile("ok.txt", bytes(1000))]) is None


def test_more_than_ten_files_are_refused_together(settings: Settings) -> None:
    files = [NewFile(f"{n}.txt", b"x") for n in range(MAX_FILES + 1)]
    refused = refusal(settings, files)
    assert refused is not None and refused.message_id == "attachments.too_many"
    assert refused.params == {"count": 11, "limit": 10}
    assert refusal(settings, files[:MAX_FILES]) is None


def test_links_are_added_only_to_a_list_of_stored_files(settings: Settings) -> None:
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert with_links(settings, {"attachments": 2}, now, "ja") == {"attachments": 2}  # a count
    assert with_links(settings, {"subject": "x"}, now, "ja") == {"subject": "x"}
    linked = with_links(
        settings, {"attachments": [{"id": 5, "name": "a.pdf", "size": 2048, "sha256": "ab"}, "x"]}, now, "en"
    )
    first, second = linked["attachments"]
    assert (
        first["url"].startswith(settings.public_url.rstrip("/") + "/files/5.")
        and first["size_text"] == "2.0 KiB"
    )
    assert second == "x"
    assert linked["attachments_until"] == "Sat 26 Dec 2026"
