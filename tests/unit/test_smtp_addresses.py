"""The SMTP door reads everyday MAIL/RCPT paths itself; it must read them exactly as
aiosmtpd does, and hand everything else to aiosmtpd."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given
from hypothesis import strategies as st

from mail.smtp_protocol import CappedSMTP

SAMPLES = [
    "<user@x.jp>",
    "<user000123@customer12.example.jp> SIZE=2048 BODY=8BITMIME",
    " <user@x.jp>  SIZE=1",
    "<user@x.jp>SIZE=1",
    "<a.b@c.d>  ",
    "<>",
    "<a@b> ",
    "<a@b> (comment) SIZE=1",
    '<"q u"@x>',
    "<@route:a@b>",
    "user@x.jp",
    "<a..b@c>",
    "<a@b..c>",
    "<a@-b.c>",
    "<a@[1.2.3.4]>",
    "<a(c)@b>",
    "<.a@b>",
    "<a.@b>",
    "<ユーザー@例え.jp>",
    "<a@b>\tSMTPUTF8",
    "<a@b",
    "",
]


class _Handler:
    pass


def _pair() -> tuple[SMTP, CappedSMTP]:
    return SMTP(_Handler()), CappedSMTP(_Handler())  # type: ignore[arg-type]


def _read(server: SMTP, arg: str) -> object:
    """The parse, or the exception it raised (the stock parser raises on some garbage;
    aiosmtpd's handle_exception answers those)."""
    try:
        return server._getaddr(arg)
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize("arg", SAMPLES)
def test_paths_are_read_as_aiosmtpd_reads_them(arg: str) -> None:
    stock, ours = _pair()
    assert _read(ours, arg) == _read(stock, arg)


def test_the_local_part_limit_still_applies() -> None:
    stock, ours = _pair()
    stock.local_part_limit = ours.local_part_limit = 4
    for arg in ("<abcd@x.jp>", "<abcde@x.jp> SIZE=1"):
        assert _read(ours, arg) == _read(stock, arg)


@given(st.text(alphabet='<>@.-_ ab\t"()[]:;\\+', max_size=24))
def test_any_path_is_read_as_aiosmtpd_reads_it(arg: str) -> None:
    stock, ours = _pair()
    assert _read(ours, arg) == _read(stock, arg)
