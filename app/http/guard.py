"""The traffic guard at the edge: who the client is (by IP), and blocked addresses.

The client IP is the TCP peer, unless that peer is a trusted proxy: then it is the
nearest address in `X-Forwarded-For` that is not itself a trusted proxy. A client
cannot spoof its address by sending the header straight to us.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import ConfigError
from app.http.request_context import send_error

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ACCESS_DENIED = "Access denied"


def parse_networks(values: Iterable[str], setting: str) -> tuple[Network, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ConfigError(f"{setting}: {value!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _address(value: str) -> Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is still that IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrafficGuard:
    def __init__(self, trusted_proxies: Iterable[str], blocked_ips: Iterable[str]) -> None:
        self.trusted = parse_networks(trusted_proxies, "TRUSTED_PROXIES")
        self.blocked = parse_networks(blocked_ips, "BLOCKED_IPS")

    def _is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address as text ("unknown" when the peer is not an IP at all)."""
        address = _address(peer or "")
        if address is None:
            return peer or "unknown"
        if not self._is_trusted(address) or not forwarded_for:
            return str(address)
        for hop in reversed(forwarded_for.split(",")):
            forwarded = _address(hop)
            if forwarded is None:
                break  # a malformed hop: trust nothing further left than what we have
            address = forwarded
            if not self._is_trusted(address):
                break
        return str(address)

    def is_blocked(self, client_ip: str) -> bool:
        address = _address(client_ip)
        return address is not None and any(address in network for network in self.blocked)


class TrafficGuardMiddleware:
    """Works out the client IP once (`scope["state"]["client_ip"]`) and turns away blocked
    addresses with 403 before anything else runs, the token included."""

    def __init__(self, app: ASGIApp, guard: TrafficGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer = scope["client"][0] if scope.get("client") else None
        forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                joined = value.decode("latin-1")
                forwarded_for = joined if forwarded_for is None else f"{forwarded_for},{joined}"
        client_ip = self.guard.client_ip(peer, forwarded_for)
        scope.setdefault("state", {})["client_ip"] = client_ip
        if client_ip != self.guard.client_ip(peer, None):
            # uvicorn's access line reads this very scope: it names the client, not our
            # proxy (whose port is all we know; the client's is not forwarded).
            scope["client"] = (client_ip, 0)
        if not self.guard.is_blocked(client_ip):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4403, "reason": ACCESS_DENIED})
            return
        await send_error(send, scope, 403, ACCESS_DENIED, "FORBIDDEN")
