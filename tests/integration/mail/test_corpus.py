"""Every real-world mail of ../shared/corpus/mail, through the parser and over SMTP.

The corpus is not part of the project (licences, size); without it these tests skip
with the reason. Over SMTP the whole corpus goes through one server per database in one
test, so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import os
import re
import smtplib
from pathlib import Path

import pytest
from sqlalchemy import select

from core import contact_window
from core.models import InboundMail
from core.unit_of_work import Core
from mail.parse import parse
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import CONTACT

ROOT = Path(__file__).resolve().parents[3]
# ../shared beside the project; a git worktree in ../wt/NAME looks two levels up.
_CANDIDATES = [Path(os.environ["MAIL_CORPUS_DIR"])] if os.environ.get("MAIL_CORPUS_DIR") else []
_CANDIDATES += [ROOT.parent / "shared" / "corpus" / "mail", ROOT.parent.parent / "shared" / "corpus" / "mail"]
CORPUS = next((c for c in _CANDIDATES if c.is_dir()), _CANDIDATES[0])
FILES = (
    sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and "LICENSES" not in p.parts and p.suffix not in (".json", ".md")
    )
    if CORPUS.is_dir()
    else []
)
needs_corpus = pytest.mark.skipif(
    not FILES, reason=f"mail corpus not found at {CORPUS} (see ../shared/README.md)"
)


def crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r\n|\r|\n", b"\r\n", raw)


def _clean(text: str) -> bool:
    return "=?" not in text and "\ufffd" not in text


def _header_bytes(raw: bytes, name: bytes) -> bytes:
    match = re.search(rb"(?im)^" + name + rb":(.*(?:\r?\n[ \t].*)*)", raw)
    return match.group(1) if match else b""


@needs_corpus
@pytest.mark.parametrize("variant", ["raw", "crlf"])
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_mail_parses_and_decodes_japanese_cleanly(path: Path, variant: str) -> None:
    raw = path.read_bytes()
    data = raw if variant == "raw" else crlf(raw)
    mail = parse(data, "sender@customer.example", [CONTACT])
    assert not any(d.startswith("unparseable") for d in mail.defects), mail.defects
    assert isinstance(mail.subject, str) and isinstance(mail.text, str)
    # Where the source carries a replacement character itself, it is not decodable.
    if b"\xef\xbf\xbd" not in _header_bytes(raw, b"subject"):
        assert _clean(mail.subject), mail.subject
    if b"\xef\xbf\xbd" not in _header_bytes(raw, b"from"):
        assert _clean(mail.sender_name), mail.sender_name


def _send_all(port: int, payloads: list[bytes]) -> list[str]:
    problems = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for n, data in enumerate(payloads):
            try:
                refused = client.sendmail("sender@customer.example", [CONTACT], data)
                if refused:
                    problems.append(f"{n}: refused {refused}")
            except smtplib.SMTPException as exc:
                problems.append(f"{n}: {exc}")
                client.rset()
    return problems


@needs_corpus
async def test_the_whole_corpus_over_smtp_is_stored_intact_and_processed(domain: Core) -> None:
    server = SMTPServer(domain, host="127.0.0.1", port=0, process=False)
    await server.start()
    try:
        payloads = [crlf(p.read_bytes()) for p in FILES]
        problems = await asyncio.to_thread(_send_all, server.port, payloads)
        assert problems == []
        async with domain.uow() as uow:
            stored = {row.digest: row.raw for row in (await uow.session.scalars(select(InboundMail))).all()}
        for path, data in zip(FILES, payloads, strict=True):
            expected = data if data.endswith(b"\r\n") else data + b"\r\n"
            assert stored.get(contact_window.digest(expected)) == expected, path.name
        while await server.processor.run_once():
            pass
        async with domain.uow() as uow:
            states = (await uow.session.scalars(select(InboundMail.state))).all()
        assert set(states) == {"processed"}
    finally:
        await server.stop()
