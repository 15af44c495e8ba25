"""STARTTLS for the contact window's SMTP door: the server's TLS context, built once from
the certificate and key the settings name.

Why a context of our own and not ``ssl.create_default_context()``'s client defaults: a
server does not verify its clients (mail arrives from anyone; aiosmtpd warns about any
other ``verify_mode``), and it offers TLS 1.2 and newer only. Opportunistic by default:
a client that does not say STARTTLS is still served, because refusing it loses mail from
older servers; ``MADOGUCHI_SMTP_REQUIRE_TLS`` refuses it (530) where the door faces
clients that can all do TLS.
"""

from __future__ import annotations

import ssl

from core.config import Settings

__all__ = ["server_context"]


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The context for STARTTLS, or ``None`` when no certificate is configured. A file
    that cannot be read or a key that does not match raises here, at start-up."""
    if settings.smtp_tls_cert is None or settings.smtp_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(certfile=settings.smtp_tls_cert, keyfile=settings.smtp_tls_key)
    return context
