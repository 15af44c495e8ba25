"""Who the client is, behind the reverse proxies the operator trusts.

Behind the proxy that terminates HTTPS every connection comes from the proxy: the
per-visitor throttle of the password pages (``core.throttle``) would then count the whole
world as one visitor and lock everybody out. A forwarded header, though, is whatever the
client wrote, unless a proxy we trust wrote it. So:

- the direct peer is the client unless it is in MADOGUCHI_TRUSTED_PROXIES (addresses or
  CIDRs; empty: nobody is trusted and no header is read);
- when it is trusted, the chain of addresses the proxies appended is read right to left
  (``X-Forwarded-For``, or ``Forwarded: for=…`` when there is no ``X-Forwarded-For``),
  skipping trusted proxies; the first address not trusted is the client. Entries left of
  it were written by the client and are never believed;
- a value that is not an IP address ends the walk at the last trusted hop.

``middleware`` puts that address in ``request.remote`` for every handler (and the log
lines of the request) on serve's one HTTP app. A proxy that writes ``Forwarded`` must
drop a client's ``X-Forwarded-For`` (docs/operations.md, "Behind a reverse proxy").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def networks(trusted: Iterable[str]) -> tuple[Network, ...]:
    """MADOGUCHI_TRUSTED_PROXIES as networks (a bare address is a /32 or /128); a typo
    stops start-up with the value named instead of trusting nobody silently."""
    parsed: list[Network] = []
    for entry in trusted:
        try:
            parsed.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"MADOGUCHI_TRUSTED_PROXIES: {entry!r} is not an address or CIDR") from exc
    return tuple(parsed)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from a header entry: ``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:80``."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _chain(request: web.BaseRequest) -> list[str]:
    """The addresses the proxies appended, left (client side) to right (our side)."""
    xff = request.headers.getall("X-Forwarded-For", [])
    if xff:
        return [part for value in xff for part in value.split(",")]
    return [str(entry.get("for", "")) for entry in request.forwarded]


def client_address(request: web.BaseRequest, trusted: tuple[Network, ...]) -> str | None:
    """The client's address by the rules above (``None``: the peer is unknown)."""
    peer = request.remote
    if not trusted or peer is None:
        return peer
    hop = _address(peer)
    chain = _chain(request)
    while hop is not None and any(hop in net for net in trusted) and chain:
        entry = _address(chain.pop())
        if entry is None:
            break
        hop = entry
    return str(hop) if hop is not None else peer


def middleware(trusted: Iterable[str]) -> Middleware:
    """Puts the client's address in ``request.remote`` for everything after it."""
    nets = networks(trusted)

    @web.middleware
    async def real_client(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not nets:
            return await handler(request)
        address = client_address(request, nets)
        changes: dict[str, Any] = {} if address == request.remote else {"remote": address}
        return await handler(request.clone(**changes) if changes else request)

    return real_client
