"""RFC 8601 Authentication-Results as the contact window reads them (database-free), and
the subject made one line by the assessment."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from core.contact_window import IncomingMail, assess
from core.contact_window.authentication import parse_authentication_results, suspicion

MX = "mx.support.example.com"


def _settings(tmp_path: Path, trusted: str = MX) -> Settings:
    return Settings(
        MADOGUCHI_SECRET_KEY="k" * 32,
        MADOGUCHI_VAR_DIR=str(tmp_path),
        MADOGUCHI_TRUSTED_AUTHSERV_IDS=trusted,
        _env_file=None,
    )


@pytest.mark.parametrize(
    ("value", "authserv_id", "results"),
    [
        ("example.org 1; none", "example.org", {}),
        (
            "mx.example.com; spf=pass smtp.mailfrom=a.example; dkim=pass header.d=a.example;\r\n"
            "\tdmarc=fail (p=reject dis=none) header.from=a.example",
            "mx.example.com",
            {"spf": ("pass",), "dkim": ("pass",), "dmarc": ("fail",)},
        ),
        (
            '"MX.Example.COM" ; dkim/1 = pass (good (nested)) ; dmarc=none',
            "mx.example.com",
            {"dkim": ("pass",), "dmarc": ("none",)},
        ),
        ('mx; auth=pass smtp.auth="a;dmarc=fail"; dkim=fail', "mx", {"auth": ("pass",), "dkim": ("fail",)}),
        ("mx; dkim=pass; dkim=fail header.d=b.example", "mx", {"dkim": ("pass", "fail")}),
        ("(only a comment)", None, None),
        ("", None, None),
    ],
)
def test_authentication_results_are_parsed_with_comments_and_quotes(
    value: str, authserv_id: str | None, results: dict[str, tuple[str, ...]] | None
) -> None:
    parsed = parse_authentication_results(value)
    if authserv_id is None:
        assert parsed is None
        return
    assert parsed is not None
    assert parsed.authserv_id == authserv_id and parsed.results == results


def test_only_the_topmost_trusted_header_and_any_spam_yes_count(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f" {MX.upper()} , other.example ")
    assert settings.trusted_authserv_ids == frozenset({MX, "other.example"})
    ar = "authentication-results"
    assert suspicion(settings, [(ar, f"{MX}; dmarc=fail")]) == "dmarc_fail"
    assert suspicion(settings, [(ar, "evil.example; dmarc=pass"), (ar, f"{MX}; dmarc=fail")]) == "dmarc_fail"
    assert suspicion(settings, [(ar, f"{MX}; dmarc=pass"), (ar, f"{MX}; dmarc=fail")]) is None
    assert suspicion(settings, [(ar, "evil.example; dmarc=fail")]) is None
    assert suspicion(settings, [("x-spam-flag", "YES")]) == "spam"
    assert suspicion(settings, [("x-spam-status", "No, score=1.0"), ("x-spam", "yes")]) == "spam"
    assert suspicion(settings, [("x-spam-flag", "NO")]) is None
    assert suspicion(_settings(tmp_path, ""), [(ar, f"{MX}; dmarc=fail"), ("x-spam-flag", "YES")]) is None


def test_the_assessment_makes_subject_sender_and_name_one_line(tmp_path: Path) -> None:
    mail = IncomingMail(
        message_id="<m@x>",
        sender="user@customer.example",
        sender_name="山田\r\n太郎\x00",
        subject="件名\r\n\t<!channel>\u2028\u2029次\x85行 ",
        text="本文\n二行目",
        envelope_from="user@customer.example",
        trace=[("authentication-results", f"{MX}; dmarc=fail")],
    )
    assessed = assess(_settings(tmp_path), mail)
    assert assessed.mail.subject == "件名 <!channel> 次 行"
    assert assessed.mail.sender_name == "山田 太郎"
    assert assessed.mail.text == "本文\n二行目"  # the text keeps its lines
    assert assessed.suspect == "dmarc_fail"
