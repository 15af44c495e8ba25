"""Inbound STARTTLS with the certificate and key the settings name; optionally required."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import smtplib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from core.config import Settings
from core.unit_of_work import Core
from mail.smtp import SMTPServer
from tests.integration.mail.conftest import CONTACT, inbound_of, make_mail, send

HOST = "mx.support.example.com"


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for HOST, made for this test."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _client_context(cert: Path) -> ssl.SSLContext:
    """A client that trusts exactly our test certificate and checks the name it connected
    to (127.0.0.1, in the certificate's subject alternative names)."""
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = True
    return context


def _send_over_tls(port: int, cert: Path, raw: bytes) -> tuple[str | None, dict[str, tuple[int, bytes]]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.example")
        assert client.has_extn("starttls")
        client.starttls(context=_client_context(cert))
        sock = client.sock
        version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
        return version, client.sendmail("user@customer.example", [CONTACT], raw)


@pytest.fixture
async def tls_server(domain: Core, tmp_path: Path) -> tuple[SMTPServer, Path]:
    cert, key = _certificate(tmp_path)
    domain.settings.smtp_tls_cert = cert
    domain.settings.smtp_tls_key = key
    return SMTPServer(domain, host="127.0.0.1", port=0, process=False), cert


async def test_mail_arrives_over_starttls_with_the_configured_certificate(
    domain: Core, tls_server: tuple[SMTPServer, Path]
) -> None:
    server, cert = tls_server
    await server.start()
    try:
        raw = make_mail(subject="暗号化")
        version, refused = await asyncio.to_thread(_send_over_tls, server.port, cert, raw)
    finally:
        await server.stop()
    assert refused == {}
    assert version in ("TLSv1.2", "TLSv1.3")
    [row] = await inbound_of(domain)
    assert row.raw == raw


async def test_without_starttls_mail_is_still_taken_unless_tls_is_required(
    domain: Core, tls_server: tuple[SMTPServer, Path]
) -> None:
    server, cert = tls_server
    await server.start()
    try:
        assert await send(server.port, make_mail()) == {}
    finally:
        await server.stop()

    domain.settings.smtp_require_tls = True
    required = SMTPServer(domain, host="127.0.0.1", port=0, process=False)
    await required.start()
    try:

        def plain() -> int:
            with smtplib.SMTP("127.0.0.1", required.port, timeout=10) as client:
                client.ehlo("client.example")
                code, _message = client.mail("user@customer.example")
                return code

        assert await asyncio.to_thread(plain) == 530
        _version, refused = await asyncio.to_thread(
            _send_over_tls, required.port, cert, make_mail(subject="後")
        )
        assert refused == {}
    finally:
        await required.stop()
    assert len(await inbound_of(domain)) == 2


def test_a_certificate_without_its_key_or_required_tls_without_either_stops_the_start(tmp_path: Path) -> None:
    cert, _key = _certificate(tmp_path)
    with pytest.raises(ValidationError, match="go together"):
        Settings(MADOGUCHI_SMTP_TLS_CERT=str(cert), _env_file=None)
    with pytest.raises(ValidationError, match="REQUIRE_TLS"):
        Settings(MADOGUCHI_SMTP_REQUIRE_TLS="true", _env_file=None)
