"""Where a webhook may be sent: `https`, to a host that resolves only to public addresses.

Checked when an endpoint is saved (`check_url`, InvalidInput(url, …)) and again at every
connection (`PinnedBackend`): the dispatcher connects to the very address it checked, so a
name that resolves elsewhere between the check and the POST (DNS rebinding) cannot reach
the inside. `WEBHOOK_ALLOW_PRIVATE=on` lifts both rules (plain http, private addresses).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore

from app.errors import InvalidInput

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def forbidden_address(ip: IPAddress) -> bool:
    """Loopback, private, link-local (the 169.254.169.254 metadata service), unspecified,
    multicast, reserved, shared or any other address that is not globally reachable. An
    IPv6 address that carries an IPv4 one (mapped, 6to4) is judged by that too; NAT64's
    64:ff9b::/96 is reserved, so refused whatever it carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return forbidden_address(ip.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
        if ip.sixtofour is not None and forbidden_address(ip.sixtofour):
            return True
    return (
        not ip.is_global
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    # The zone of a scoped IPv6 address (fe80::1%eth0) is not part of the address.
    return list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )


def refused_addresses(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return [ip for ip in addresses if forbidden_address(ip)]


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise InvalidInput(url, reason) unless `url` is a webhook URL we may POST to."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(field="url", reason="TOO_LONG")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput(field="url", reason="NOT_A_URL") from None
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise InvalidInput(field="url", reason="NOT_A_URL")
    if parts.scheme not in schemes:
        raise InvalidInput(field="url", reason="NOT_HTTPS")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(field="url", reason="HAS_CREDENTIALS")
    if allow_private:
        return
    addresses = await resolve(parts.hostname, port or 443)
    if not addresses:
        raise InvalidInput(field="url", reason="UNRESOLVABLE")
    if refused_addresses(addresses):
        raise InvalidInput(field="url", reason="PRIVATE_ADDRESS")


class ForbiddenAddress(httpcore.ConnectError):
    """A delivery's host resolved to an address webhooks may not reach."""


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving each host itself and connecting to the address
    it checked (TLS still verifies the certificate against the host's name)."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self.allow_private:
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = await resolve(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        refused = refused_addresses(addresses)
        if refused:
            raise ForbiddenAddress(f"{host} resolves to a forbidden address ({refused[0]})")
        return await self.inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are never sent to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
