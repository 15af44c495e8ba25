"""``mail.mime`` writes the same mail as ``mail.templates.build_message`` (the stdlib's
EmailMessage), only faster: both are parsed with the stdlib and compared header by
header and body by body, for every template and locale and for the awkward cases."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.config import Settings
from mail.mime import message_bytes
from mail.templates import MAIL_TEMPLATES, MailTemplates, OutgoingFile, Rendered, build_message
from tests.integration.mail.test_outbox_worker import CONTEXTS, SECRETS

DATE = datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC)
ACK_HEADERS = {
    "In-Reply-To": "<bench-1@customer.example.jp>",
    "References": "<bench-0@customer.example.jp> <bench-1@customer.example.jp>",
    "Auto-Submitted": "auto-replied",
    "X-Auto-Response-Suppress": "All",
    "X-Madoguchi-Loop": "contact@support.example.com",
    "Reply-To": "contact+r1-0123456789@support.example.com",
}


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, MADOGUCHI_SECRET_KEY="test", **values)


def _parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def _same(
    settings: Settings,
    rendered: Rendered,
    *,
    to: list[str] | None = None,
    template: str = "request_ack",
    headers: dict[str, Any] | None = None,
) -> bytes:
    kwargs: dict[str, Any] = {
        "to": to or ["taro@customer.example"],
        "message_id": "<0123abcd@support.example.com>",
        "template": template,
        "headers": dict(headers or {}),
        "date": DATE,
    }
    ours = message_bytes(settings, rendered, **kwargs)
    theirs = build_message(settings, rendered, **kwargs).as_bytes()
    assert ours.isascii()
    assert all(len(line) <= 998 for line in ours.split(b"\r\n"))
    assert b"\n" not in ours.replace(b"\r\n", b"")
    mine, stdlib = _parsed(ours), _parsed(theirs)

    def header_list(msg: EmailMessage) -> list[tuple[str, object]]:
        """Each header as read back; an address header as its (display name, address)
        pairs, however the name was quoted or encoded."""
        return [
            (k, [(a.display_name, a.addr_spec) for a in v.addresses] if hasattr(v, "addresses") else str(v))
            for k, v in msg.items()
            if k.lower() != "content-type"
        ]

    # The subject reads back as rendered. (The stdlib leaves a literal "=?…?=" in a
    # subject as it is, so a reader decodes it into something else; we encode it.)
    assert str(stdlib["Subject"]) == rendered.subject or "=?" in rendered.subject
    expected = [(k, rendered.subject if k == "Subject" else v) for k, v in header_list(stdlib)]
    assert header_list(mine) == expected
    assert mine.get_content_type() == stdlib.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        a, b = mine.get_body((kind,)), stdlib.get_body((kind,))
        assert a is not None and b is not None
        assert a.get_content_type() == b.get_content_type()
        assert a.get_content_charset() == b.get_content_charset()
        assert a["Content-Transfer-Encoding"] == b["Content-Transfer-Encoding"]
        assert a.get_content() == b.get_content()
    assert len(list(mine.iter_parts())) == 2
    return ours


@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize("template", MAIL_TEMPLATES)
def test_every_template_in_every_locale_is_the_same_mail(template: str, locale: str) -> None:
    settings = _settings()
    context = dict(CONTEXTS[template])
    if template in SECRETS:
        context["link"] = "http://127.0.0.1:3000/password?token=T&x=<y>"
    rendered = MailTemplates(settings).render(template, locale, context)
    _same(settings, rendered, template=template, headers=ACK_HEADERS if template == "request_ack" else {})


@pytest.mark.parametrize(
    "vendor",
    ["Example Solutions", "株式会社サンプル", 'Acme, Inc. "Best"', "A\\B", "Solutions =?utf-8?q?x?=", ""],
)
def test_display_names_of_every_kind(vendor: str) -> None:
    settings = _settings(MADOGUCHI_VENDOR_NAME=vendor)
    _same(settings, Rendered("件名", "本文", "<p>本文</p>"))


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "Plain ASCII subject",
        "A long ASCII subject " * 8,
        "[REQ-000123] お問い合わせを受け付けました",
        "長い件名" * 40,
        "Re: =?utf-8?b?5Lu2?= literal",
        "絵文字 🎉 と ① ㈱",
        "tab\tand control \x01 characters",
    ],
)
def test_subjects_of_every_kind(subject: str) -> None:
    _same(_settings(), Rendered(subject, "text", "<p>html</p>"))


def test_bodies_keep_their_lines_and_end_with_a_line_break() -> None:
    text = "一行目\n二行目\r\n三行目\rfour\n\n"
    _same(_settings(), Rendered("s", text, text))
    _same(_settings(), Rendered("s", "no newline at the end", ""))


def test_long_references_several_recipients_and_dropped_headers() -> None:
    headers = {
        "References": " ".join(f"<{n}-{'x' * 30}@customer.example.jp>" for n in range(12)),
        "In-Reply-To": "<11@customer.example.jp>",
        "X-Dropped": None,
        "X-Broken": "a\r\nBcc: victim@example.com",
    }
    raw = _same(
        _settings(),
        Rendered("s", "t", "h"),
        to=["a@customer.example", "b@customer.example", "c@customer.example"] * 4,
        headers=headers,
    )
    assert b"Bcc" not in raw and b"X-Dropped" not in raw


def test_staff_replies_are_not_marked_automatic() -> None:
    raw = _same(_settings(), Rendered("Re: 質問", "回答", "<p>回答</p>"), template="staff_reply")
    assert b"Auto-Submitted" not in raw


def test_what_is_not_our_shape_is_written_by_the_stdlib() -> None:
    settings = _settings()
    # A non-ASCII address and a non-ASCII header value: build_message's bytes exactly,
    # apart from its random boundary.
    for kwargs in (
        {"to": ["taro@customer.example"], "headers": {"X-Note": "日本語"}},
        {"to": ["taro@customer.example"], "headers": {"Subject": "twice"}},
    ):
        try:
            expected = build_message(
                settings,
                Rendered("s", "t", "h"),
                message_id="<m@x>",
                template="x",
                date=DATE,
                **kwargs,  # type: ignore[arg-type]
            ).as_bytes()
        except ValueError:
            with pytest.raises(ValueError):
                message_bytes(
                    settings,
                    Rendered("s", "t", "h"),
                    message_id="<m@x>",
                    template="x",
                    date=DATE,
                    **kwargs,  # type: ignore[arg-type]
                )
            continue
        ours = message_bytes(
            settings,
            Rendered("s", "t", "h"),
            message_id="<m@x>",
            template="x",
            date=DATE,
            **kwargs,  # type: ignore[arg-type]
        )
        assert ours.split(b"boundary=")[0] == expected.split(b"boundary=")[0]


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    subject=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=120),
    vendor=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
    body=st.text(st.characters(blacklist_categories=("Cs",)), max_size=100),
)
def test_any_subject_display_name_and_body(subject: str, vendor: str, body: str) -> None:
    subject = " ".join(subject.split())  # as MailTemplates.render leaves a subject
    settings = _settings(MADOGUCHI_VENDOR_NAME=vendor)
    try:
        build_message(
            settings,
            Rendered(subject, body, body),
            to=["a@b.example"],
            message_id="<m@x>",
            template="x",
            headers={},
            date=DATE,
        ).as_bytes()
    except Exception:  # the stdlib cannot write it either: nothing to compare
        return
    _same(settings, Rendered(subject, body, body))


@pytest.mark.parametrize(
    "name",
    [
        "report.pdf",
        "見積書 2026年度.pdf",
        'a "quoted" name.pdf',
        "x" * 100 + ".pdf",
        "長い名前" * 20 + ".pdf",
    ],
    ids=["ascii", "japanese", "quotes", "long-ascii", "long-japanese"],
)
def test_a_mail_with_files_is_the_same_mail_as_the_stdlibs(name: str) -> None:
    """An inquiry answer's files: ``multipart/mixed``, the alternatives first, then each
    file with its name and bytes as the stdlib writes and reads them."""
    settings = _settings()
    rendered = MailTemplates(settings).render("inquiry_answer", "ja", dict(CONTEXTS["inquiry_answer"]))
    files = [
        OutgoingFile(name, "application/pdf", b"%PDF-1.4\n" + bytes(range(256)) * 9),
        OutgoingFile("b.bin", "application/octet-stream", b"\x00\x01"),
    ]
    kwargs: dict[str, Any] = {
        "to": ["taro@customer.example"],
        "message_id": "<0123abcd@support.example.com>",
        "template": "inquiry_answer",
        "headers": {},
        "date": DATE,
        "files": files,
    }
    ours = message_bytes(settings, rendered, **kwargs)
    theirs = build_message(settings, rendered, **kwargs).as_bytes()
    assert ours.isascii() and all(len(line) <= 998 for line in ours.split(b"\r\n"))
    assert b"\n" not in ours.replace(b"\r\n", b"")
    mine, stdlib = _parsed(ours), _parsed(theirs)
    assert mine.get_content_type() == stdlib.get_content_type() == "multipart/mixed"
    for kind in ("plain", "html"):
        a, b = mine.get_body((kind,)), stdlib.get_body((kind,))
        assert a is not None and b is not None and a.get_content() == b.get_content()
    got = [(p.get_filename(), p.get_content_type(), p.get_content()) for p in mine.iter_attachments()]
    want = [(p.get_filename(), p.get_content_type(), p.get_content()) for p in stdlib.iter_attachments()]
    assert got == want == [(f.name, f.content_type, f.data) for f in files]
