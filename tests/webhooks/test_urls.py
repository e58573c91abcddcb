"""The URL rules against SSRF: in production only https to public addresses, whatever the
spelling (IPv4, IPv6, IPv4-mapped IPv6, a name resolving to loopback); with
WEBHOOK_ALLOW_PRIVATE=on plain http and loopback are allowed."""

from __future__ import annotations

import ipaddress

import pytest

from app.errors import InvalidInput
from app.webhooks.urls import check_url, forbidden_address

REFUSED = {
    "http://example.com/hook": "NOT_HTTPS",
    "ftp://example.com/hook": "NOT_A_URL",
    "https://": "NOT_A_URL",
    "https://user:pw@example.com/hook": "HAS_CREDENTIALS",
    "https://127.0.0.1/hook": "PRIVATE_ADDRESS",
    "https://10.0.0.1/hook": "PRIVATE_ADDRESS",
    "https://192.168.1.10:8443/hook": "PRIVATE_ADDRESS",
    "https://169.254.169.254/latest/meta-data": "PRIVATE_ADDRESS",
    "https://0.0.0.0/hook": "PRIVATE_ADDRESS",
    "https://localhost/hook": "PRIVATE_ADDRESS",
    "https://[::1]/hook": "PRIVATE_ADDRESS",
    "https://[::ffff:127.0.0.1]/hook": "PRIVATE_ADDRESS",
    "https://[fe80::1]/hook": "PRIVATE_ADDRESS",
    "https://[fd00::1]/hook": "PRIVATE_ADDRESS",
    "https://224.0.0.1/hook": "PRIVATE_ADDRESS",
    "https://100.64.0.1/hook": "PRIVATE_ADDRESS",
    "https://example.com:99999/hook": "NOT_A_URL",
    "https://example.com/" + "x" * 2048: "TOO_LONG",
}


@pytest.mark.parametrize("url", sorted(REFUSED))
async def test_production_refuses_what_is_not_https_to_a_public_address(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await check_url(url, allow_private=False)
    assert (refused.value.field, refused.value.reason) == ("url", REFUSED[url])


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://localhost/hook"])
async def test_allow_private_lifts_both_rules(url: str) -> None:
    await check_url(url, allow_private=True)


async def test_allow_private_still_wants_an_http_url() -> None:
    with pytest.raises(InvalidInput):
        await check_url("file:///etc/passwd", allow_private=True)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("::ffff:10.1.2.3", True),
        ("::ffff:8.8.8.8", False),
        ("2002:a00:1::", True),  # 6to4 around 10.0.0.1
        ("2002:808:808::", False),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 lies in reserved space: never reached
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", True),  # Teredo
        ("::", True),
        ("ff02::1", True),
        ("240.0.0.1", True),
        ("172.16.5.4", True),
    ],
)
def test_which_addresses_are_forbidden(address: str, refused: bool) -> None:
    assert forbidden_address(ipaddress.ip_address(address)) is refused
