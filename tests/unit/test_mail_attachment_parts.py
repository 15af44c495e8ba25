"""Which MIME parts are files, their names and bytes (mail/attachment_parts.py via parse)."""

from __future__ import annotations

import base64

from core.attachments import NewFile, Unread
from mail.parse import parse


def _mail(*parts: bytes, top: bytes = b"multipart/mixed") -> bytes:
    head = (
        b"From: user@customer.example\r\nTo: contact@support.example.com\r\nSubject: files\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: " + top + b'; boundary="B"\r\n\r\n'
    )
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts)
    return head + body + b"--B--\r\n"


TEXT = b'Content-Type: text/plain; charset="utf-8"\r\n\r\nHello, files attached.\r\n'


def test_encoded_word_names_are_decoded_and_base64_bytes_read() -> None:
    data = "請求書の内容".encode() * 10
    part = (
        b'Content-Type: application/pdf; name="=?UTF-8?B?'
        + base64.b64encode("請求書.pdf".encode())
        + b'?="\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(data)
    )
    mail = parse(_mail(TEXT, part))
    assert mail.text.startswith("Hello, files attached.")
    assert mail.attachments == [NewFile("請求書.pdf", data)]


def test_rfc2231_continuations_with_a_charset_are_decoded() -> None:
    part = (
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment;\r\n"
        b" filename*0*=iso-2022-jp''%1B%24B%38%2B%40%51%3D%71%1B%28B;\r\n"
        b" filename*1*=.xlsx\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"a=3Db=\r\nc\r\n"
    )
    [found] = parse(_mail(TEXT, part)).attachments
    assert found == NewFile("見積書.xlsx", b"a=bc\r\n")


def test_an_inline_image_without_a_name_is_a_file_and_the_body_is_not() -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(20)
    part = (
        b"Content-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(image)
    )
    html = b'Content-Type: text/html; charset="utf-8"\r\n\r\n<p>Hi</p>\r\n'
    alternative = (
        b'Content-Type: multipart/alternative; boundary="A"\r\n\r\n--A\r\n'
        + TEXT
        + b"--A\r\n"
        + html
        + b"--A--"
    )
    mail = parse(_mail(alternative, part))
    assert mail.attachments == [NewFile("", image)]


def test_a_part_far_over_the_limit_is_only_counted() -> None:
    big = base64.encodebytes(bytes(300_000))
    part = b'Content-Type: application/zip; name="big.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + big
    [found] = parse(_mail(TEXT, part), max_attachment_bytes=100_000).attachments
    assert isinstance(found, Unread) and found.name == "big.zip"
    assert 290_000 < found.size < 310_000


def test_more_than_ten_files_are_only_counted() -> None:
    parts = [
        b'Content-Type: text/plain; name="n%d.txt"\r\nContent-Disposition: attachment\r\n\r\nx\r\n' % n
        for n in range(11)
    ]
    found = parse(_mail(TEXT, *parts)).attachments
    assert len(found) == 11 and all(isinstance(f, Unread) for f in found)


def test_a_mail_without_files_has_none() -> None:
    assert parse(_mail(TEXT)).attachments == []
