"""Signed return paths (VERP): a delivery report is believed only for mail we sent."""

from __future__ import annotations

from core import contact_window
from core.config import Settings


def _settings(secret: str = "k" * 32) -> Settings:
    return Settings(MADOGUCHI_SECRET_KEY=secret, MADOGUCHI_CONTACT_ADDRESS="contact@support.example.com")


def test_a_return_path_names_its_outbox_row_and_is_accepted_at_rcpt() -> None:
    settings = _settings()
    address = contact_window.return_path(settings, 4711)
    assert address.startswith("contact+b4711-") and address.endswith("@support.example.com")
    assert contact_window.bounced_outbox_id(settings, address) == 4711
    assert contact_window.bounced_outbox_id(settings, address.upper()) == 4711
    assert contact_window.accepts_recipient(settings, address)
    assert not contact_window.valid_recipient(settings, address)  # never written to


def test_a_forged_or_foreign_return_path_names_nothing_and_is_refused() -> None:
    settings = _settings()
    genuine = contact_window.return_path(settings, 4711)
    forged = genuine.replace("+b4711-", "+b4712-")
    other_key = contact_window.return_path(_settings("x" * 32), 4711)
    for address in (
        forged,
        other_key,
        "contact+b4711@support.example.com",
        "contact+bx-0000000000@support.example.com",
        genuine.replace("support.example.com", "evil.example"),
    ):
        assert contact_window.bounced_outbox_id(settings, address) is None, address
        assert not contact_window.accepts_recipient(settings, address), address
