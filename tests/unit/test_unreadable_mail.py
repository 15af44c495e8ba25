"""The verdict on a mail the door could not read: a request for staff, never answered."""

from __future__ import annotations

from core import contact_window
from core.config import Settings
from core.messages import render


def _settings() -> Settings:
    return Settings(MADOGUCHI_SECRET_KEY="k" * 32, MADOGUCHI_CONTACT_ADDRESS="contact@support.example.com")


def test_an_unreadable_mail_is_a_flagged_request_that_nothing_answers() -> None:
    item = contact_window.unreadable(
        _settings(),
        "user@customer.example",
        ["contact@support.example.com"],
        "parsing timed out after 30 s",
        timed_out_after=30.0,
    )
    assert item.sender == "user@customer.example"
    assert item.automatic == "unreadable" and item.category == "other" and not item.bounce
    assert item.mail.malformed and item.mail.defects == ["parsing timed out after 30 s"]
    assert item.mail.subject == render("contact.unreadable.subject")
    assert "30" in item.mail.text


def test_an_unreadable_mail_at_a_signed_return_path_still_reaches_staff() -> None:
    """Unread, it is no delivery report we could act on: staff see it as a request."""
    settings = _settings()
    item = contact_window.unreadable(
        settings,
        "mailer-daemon@relay.example",
        [contact_window.return_path(settings, 7)],
        "the parser process died",
    )
    assert not item.bounce and item.bounce_of is None and not item.unverified_report
    assert item.automatic == "unreadable"
    assert item.mail.text == render("contact.unreadable.body", reason=render("contact.unreadable.crashed"))
