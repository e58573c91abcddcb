"""The traffic guard: the client IP (X-Forwarded-For only from trusted proxies) and
BLOCKED_IPS, checked before the token on REST and GraphQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import ConfigError
from app.db.engine import Database
from app.http.guard import TrafficGuard
from tests.support import REST_PAY, client_for, gql, invoice, make_world, rest_pay, snapshot

PAY_BODY = {"invoice": 100123, "currency": "NGN"}
PAY = """mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { __typename } }"""
PROXY = "10.0.0.5"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # a client talking to us directly cannot choose its address
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        ("203.0.113.7", None, "203.0.113.7"),
        # behind our proxy: the address the proxy saw
        (PROXY, "198.51.100.1", "198.51.100.1"),
        # a client-written hop left of the proxy's own entry is not believed
        (PROXY, "1.1.1.1, 198.51.100.1", "198.51.100.1"),
        # two of our proxies in a row: the first address neither of them is
        (PROXY, "198.51.100.1, 10.0.0.9", "198.51.100.1"),
        # only proxies: the furthest one
        (PROXY, "10.0.0.8, 10.0.0.9", "10.0.0.8"),
        # a malformed hop stops the walk at the last good address
        (PROXY, "198.51.100.1, not-an-ip", PROXY),
        (PROXY, None, PROXY),
        # IPv4 seen through an IPv6 socket is that IPv4 address
        ("::ffff:203.0.113.7", None, "203.0.113.7"),
        ("2001:db8::1", None, "2001:db8::1"),
    ],
)
def test_client_ip(peer: str, forwarded_for: str | None, client: str) -> None:
    guard = TrafficGuard(trusted_proxies=["10.0.0.0/8"], blocked_ips=[])
    assert guard.client_ip(peer, forwarded_for) == client


@pytest.mark.parametrize(
    ("blocked", "address", "is_blocked"),
    [
        (["203.0.113.0/24"], "203.0.113.200", True),
        (["203.0.113.0/24"], "203.0.114.1", False),
        (["198.51.100.7"], "198.51.100.7", True),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "203.0.113.7", False),
        ([], "203.0.113.7", False),
    ],
)
def test_blocked_ips_are_cidrs(blocked: list[str], address: str, is_blocked: bool) -> None:
    assert TrafficGuard(trusted_proxies=[], blocked_ips=blocked).is_blocked(address) is is_blocked


@pytest.mark.parametrize("setting", ["trusted_proxies", "blocked_ips"])
def test_a_malformed_network_refuses_to_start(setting: str) -> None:
    with pytest.raises(ConfigError, match=setting.upper()):
        TrafficGuard(**{"trusted_proxies": [], "blocked_ips": [], setting: ["10.0.0.0/33"]})


async def _attempts(db: Database, peer: str, token: str | None, **headers: str) -> Any:
    """A REST payment and a GraphQL payment from `peer`, with the guard configured."""
    settings: dict[str, Any] = {
        "blocked_ips": ("203.0.113.0/24",),
        "trusted_proxies": ("10.0.0.0/8",),
    }
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    async with client_for(db, peer=peer, **settings) as client:
        rest = await client.post(REST_PAY, json=PAY_BODY, headers=sent)
        graphql = await client.post(
            "/graphql", json={"query": PAY, "variables": {"input": PAY_BODY}}, headers=sent
        )
    return rest, graphql


async def test_a_blocked_ip_is_denied_before_the_token_is_looked_at(db: Database) -> None:
    # given Ada's invoice, and a client inside a blocked range
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000.00")
    before = await snapshot(db)
    for token in (None, "garbage", world.ada_token):
        # when it pays over REST and GraphQL, with no token, a bad one, a good one
        rest, graphql = await _attempts(db, "203.0.113.9", token)
        # then both are refused with 403 Access denied, never 401
        assert (rest.status_code, rest.json()) == (403, {"message": "Access denied"})
        assert rest.headers["X-Error-Code"] == "FORBIDDEN"
        assert graphql.status_code == 403
        assert graphql.json()["errors"][0]["message"] == "Access denied"
        assert graphql.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # and nothing was written
    assert await snapshot(db) == before


async def test_forwarded_for_cannot_hide_a_blocked_client(db: Database) -> None:
    # given a blocked client that claims another address in X-Forwarded-For
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000.00")
    # when it talks to us directly
    rest, _ = await _attempts(db, "203.0.113.9", world.ada_token, X_Forwarded_For="8.8.8.8")
    # then its own address decides: denied
    assert rest.status_code == 403


async def test_a_blocked_client_behind_our_proxy_is_denied(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000.00")
    before = await snapshot(db)
    # when our proxy forwards a blocked client
    rest, graphql = await _attempts(db, PROXY, world.ada_token, X_Forwarded_For="203.0.113.9")
    # then it is denied as if it had come straight to us
    assert (rest.status_code, rest.json()) == (403, {"message": "Access denied"})
    assert graphql.status_code == 403
    assert await snapshot(db) == before


async def test_an_allowed_client_behind_our_proxy_pays(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000.00")
    # when our proxy forwards an allowed client (that also spoofs a blocked hop on the left)
    async with client_for(
        db, peer=PROXY, blocked_ips=("203.0.113.0/24",), trusted_proxies=("10.0.0.0/8",)
    ) as client:
        response = await rest_pay(
            client,
            {**PAY_BODY, "partPaymentFromWalletBalance": {"chargeTotalCurrent": 5000}},
            world.ada_token,
            X_Forwarded_For="203.0.113.9, 198.51.100.1",
        )
        result = await gql(client, "{ viewer { id } }", token=world.ada_token)
    # then the payment goes through and reads work
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "partially_paid"
    assert result["data"]["viewer"]["id"] == world.ada
