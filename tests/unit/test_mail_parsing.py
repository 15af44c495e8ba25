"""The parser and header decoder: real-world Japanese quirks, caps, and a fuzz test."""

from __future__ import annotations

import base64
from email.header import Header

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.decoding import decode_bytes, decode_header
from mail.parse import MAX_HEADER_BYTES, parse


def test_an_encoded_word_split_inside_a_character_is_joined_before_decoding() -> None:
    data = "日本語".encode()
    first, second = base64.b64encode(data[:4]).decode(), base64.b64encode(data[4:]).decode()
    assert decode_header(f"=?utf-8?b?{first}?= =?utf-8?b?{second}?=") == "日本語"


def test_iso_2022_jp_with_nec_specials_decodes_through_cp932() -> None:
    assert decode_header("=?iso-2022-jp?B?GyRCLSEbKEI=?=") == "①"


def test_shift_jis_is_read_as_cp932() -> None:
    assert decode_bytes("髙橋①".encode("cp932"), "shift_jis") == "髙橋①"


def test_undeclared_8bit_is_tried_as_utf8_then_cp932() -> None:
    assert decode_header("件名".encode()) == "件名"
    assert decode_header("件名".encode("cp932")) == "件名"
    assert decode_header(b"\x1b$B7oL>\x1b(B") == "件名"


def test_a_huge_folded_header_is_capped_before_parsing() -> None:
    raw = b"Subject: " + b"a\r\n b" * 100_000 + b"\r\nFrom: x@customer.example\r\n\r\nbody\r\n"
    mail = parse(raw, "x@customer.example")
    assert mail.malformed
    assert len(mail.subject) < MAX_HEADER_BYTES


def test_too_many_header_fields_and_addresses_are_capped() -> None:
    many = b"".join(b"X-N%d: v\r\n" % n for n in range(5000))
    to = b"To: " + b", ".join(b"u%d@x.example" % n for n in range(500)) + b"\r\n"
    mail = parse(b"From: a@b.example\r\n" + to + many + b"\r\nbody", "a@b.example")
    assert mail.recipient_count <= 200
    assert any("1000" in d for d in mail.defects)


def test_html_only_mail_becomes_text() -> None:
    raw = (
        b"From: a@b.example\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{}</style></head><body><p>\xe3\x81\x93\xe3\x82\x93&amp;</p><script>x</script></body></html>"
    )
    assert parse(raw).text == "こん&"


_CHARSETS = st.sampled_from(["utf-8", "iso-2022-jp", "shift_jis", "euc-jp"])
_JA = st.text(
    alphabet=st.sampled_from(list("あいうえおカキクケコ日本語漢字テスト①㈱ー、。 ABCabc123")),
    min_size=1,
    max_size=40,
)


@given(text=_JA, charset=_CHARSETS)
def test_any_encodable_japanese_header_round_trips(text: str, charset: str) -> None:
    try:
        text.encode("cp932" if charset == "shift_jis" else charset)
        encoded = Header(text, charset).encode()
    except (UnicodeEncodeError, LookupError):
        return
    decoded = decode_header(encoded)
    assert "=?" not in decoded and "\ufffd" not in decoded
    assert decoded.replace(" ", "") == text.replace(" ", "")


_HEADER_NAME = st.sampled_from(
    [
        "Subject",
        "From",
        "To",
        "Cc",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Auto-Submitted",
        "X-Junk",
    ]
)
_RAW_VALUE = st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def _mime(draw: st.DrawFn, depth: int = 0) -> bytes:
    headers = b"".join(
        draw(_HEADER_NAME).encode() + b": " + draw(_RAW_VALUE) + b"\r\n"
        for _ in range(draw(st.integers(0, 6)))
    )
    if depth < 3 and draw(st.booleans()):
        boundary = draw(st.sampled_from([b"b1", b"b2", b"==x==", b""]))
        parts = draw(st.lists(_mime(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
        if draw(st.booleans()):
            body += b"--" + boundary + b"--\r\n"
        return headers + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n' + body
    return headers + b"\r\n" + draw(st.binary(max_size=300))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_mime())
def test_random_headers_and_mime_structures_never_crash_the_parser(raw: bytes) -> None:
    mail = parse(raw, "fuzz@customer.example", ["contact@support.example.com"])
    assert not any(d.startswith("unparseable") for d in mail.defects), mail.defects
    for value in (mail.subject, mail.text, mail.sender, mail.sender_name, mail.message_id):
        value.encode("utf-8")  # storable: no lone surrogates
