"""Check.UNAUTHENTICATED: a session fixes who it is. A token whose `sub`, `clone_id` or `scope`
disagrees with the session its `jti` names is refused (GraphQL and websocket:
UNAUTHENTICATED; REST: 401) and writes nothing, however well it is signed. The headline
attack: a customer's session signed with `scope: admin` must not top up wallets nor list
every customer's invoices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from app.billing import admin
from app.db.engine import Database
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    PAYMENTS,
    WALLET_UPDATED,
    World,
    claims_for,
    client_for,
    error_codes,
    gql,
    invoice,
    make_world,
    serving,
    sign,
    snapshot_all,
)

REST_PATH = "/api/v1/billing/invoice/pay"
TOP_UP = """
mutation TopUp($input: TopUpWalletInput!) {
  topUpWallet(input: $input) { __typename ... on Wallet { balance { amount currency } } }
}
"""
INVOICES = "query { invoices { edges { node { number customer { id } } } } }"
PAY = """
mutation Pay($input: PayInvoiceInput!) { payInvoice(input: $input) { __typename } }
"""
PAY_INPUT = {"input": {"invoiceNumber": 100123, "currency": "NGN"}}


@dataclass(frozen=True)
class Given:
    world: World
    ada: dict[str, Any]  # the claims issued for a live session of Ada's
    operator: dict[str, Any]  # the claims issued for a live admin session of the demo tenant

    def top_up_input(self) -> dict[str, Any]:
        """Credit Bola's NGN wallet: an admin's act on another customer's wallet."""
        return {"input": {"customerId": self.world.bola, "currency": "NGN", "amount": "700.00"}}


async def given_sessions(db: Database) -> Given:
    """The world, Ada's unpaid invoice 100123, Bola's 100124, and two live sessions."""
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    await invoice(db, 100124, world.bola, "300")
    ada = await admin.create_session(db, DEMO_CLONE, customer_id=world.ada, ttl_seconds=600)
    operator = await admin.create_session(db, DEMO_CLONE, customer_id=None, ttl_seconds=600)
    return Given(world, claims_for(ada), claims_for(operator))


Forge = Callable[[Given], dict[str, Any]]

# Each is signed with the service's own key: only its disagreement with the session is wrong.
DISAGREEING: dict[str, Forge] = {
    "customer session, scope admin": lambda g: {**g.ada, "scope": "admin"},
    "customer session, scope payments admin": lambda g: {**g.ada, "scope": "payments admin"},
    "customer session, no scope word": lambda g: {**g.ada, "scope": " "},
    "customer session, sub of another customer": lambda g: {**g.ada, "sub": g.world.bola},
    "customer session, sub and scope of the admin": lambda g: {
        **g.ada,
        "sub": g.operator["sub"],
        "scope": "admin",
    },
    "customer session, sub in another case": lambda g: {**g.ada, "sub": g.ada["sub"].upper()},
    "customer session, clone_id of another tenant": lambda g: {**g.ada, "clone_id": OTHER_CLONE},
    "admin session, scope payments": lambda g: {**g.operator, "scope": "payments"},
    "admin session, sub of a customer": lambda g: {**g.operator, "sub": g.world.ada},
    "admin session, clone_id of another tenant": lambda g: {**g.operator, "clone_id": OTHER_CLONE},
}


def header(claims: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign(claims)}"}


@pytest.mark.parametrize("case", list(DISAGREEING))
async def test_a_token_disagreeing_with_its_session_is_unauthenticated_on_graphql(
    db: Database, case: str
) -> None:
    # given live sessions of Ada and of the tenant's admin, and their tenant's invoices
    given = await given_sessions(db)
    token = sign(DISAGREEING[case](given))
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the token tops up Bola's wallet, lists every invoice and pays Ada's
        top_up = await gql(client, TOP_UP, given.top_up_input(), token)
        listed = await gql(client, INVOICES, None, token)
        paid = await gql(client, PAY, PAY_INPUT, token)
    # then each is refused as UNAUTHENTICATED with no data, and nothing was written
    for result in (top_up, listed, paid):
        assert error_codes(result) == ["UNAUTHENTICATED"], result
        assert result["data"] is None, result
    assert await snapshot_all(db) == before


@pytest.mark.parametrize("case", list(DISAGREEING))
async def test_a_token_disagreeing_with_its_session_gets_401_over_rest(
    db: Database, case: str
) -> None:
    # given Ada's unpaid invoice, which her NGN wallet covers
    given = await given_sessions(db)
    before = await snapshot_all(db)
    # when it is paid over REST with the disagreeing token
    async with client_for(db) as client:
        body = {"invoice": 100123, "currency": "NGN"}
        response = await client.post(REST_PATH, json=body, headers=header(DISAGREEING[case](given)))
    # then the answer is the one 401, and nothing was written
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthorized"}
    assert await snapshot_all(db) == before


def ws_codes(message: dict[str, Any]) -> list[str]:
    """The error codes of a refused operation: an `error` message (a subscription refused
    before it starts) or a `next` carrying errors (a query or mutation)."""
    if message["type"] == "error":
        errors = message["payload"]
    else:
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None, message
        errors = message["payload"]["errors"]
    return [error["extensions"]["code"] for error in errors]


@pytest.mark.parametrize("case", list(DISAGREEING))
async def test_a_token_disagreeing_with_its_session_is_unauthenticated_on_a_websocket(
    db: Database, case: str
) -> None:
    # given live sessions of Ada and of the tenant's admin
    given = await given_sessions(db)
    token = sign(DISAGREEING[case](given))
    before = await snapshot_all(db)
    async with serving(db) as served, served.socket(token) as ws:
        # when the connection's token tops up, lists, pays, and subscribes to every
        # payment and to Ada's wallet
        operations: dict[str, tuple[str, dict[str, Any]]] = {
            "top-up": (TOP_UP, given.top_up_input()),
            "invoices": (INVOICES, {}),
            "pay": (PAY, PAY_INPUT),
            "payments": (PAYMENTS, {}),
            "wallet": (WALLET_UPDATED, {"currency": "NGN"}),
        }
        for id, (document, variables) in operations.items():
            await ws.subscribe(id, document, variables)
            # then each is refused as UNAUTHENTICATED
            refused = await ws.message(id)
            assert ws_codes(refused) == ["UNAUTHENTICATED"], id
            if refused["type"] == "next":
                assert await ws.message(id) == {"id": id, "type": "complete"}
        # and nothing was written
        assert await snapshot_all(db) == before
        # and a change to Ada's wallet made afterwards reaches none of the refused streams
        await admin.top_up_wallet(db, DEMO_CLONE, given.world.ada, "NGN", Decimal(1))
        await ws.silent()


# The controls: the same operations with claims that agree with their session.


async def test_claims_as_issued_act_as_their_session_on_graphql(db: Database) -> None:
    # given live sessions of Ada and of the tenant's admin
    given = await given_sessions(db)
    async with client_for(db) as client:
        # when the admin's token tops up Bola's wallet and lists the invoices
        top_up = await gql(client, TOP_UP, given.top_up_input(), sign(given.operator))
        every = await gql(client, INVOICES, None, sign(given.operator))
        # and Ada's token, its scope spaced otherwise, lists hers and tries the top-up
        spaced = sign({**given.ada, "scope": "  payments "})
        hers = await gql(client, INVOICES, None, spaced)
        refused = await gql(client, TOP_UP, given.top_up_input(), spaced)
    # then the admin credits Bola and sees every customer's invoices
    assert top_up == {
        "data": {
            "topUpWallet": {
                "__typename": "Wallet",
                "balance": {"amount": "1700.00", "currency": "NGN"},
            }
        }
    }
    assert numbers(every) == [(100123, given.world.ada), (100124, given.world.bola)]
    # while Ada (scope compared as a set of words) sees her own and may not top up
    assert numbers(hers) == [(100123, given.world.ada)]
    assert error_codes(refused) == ["FORBIDDEN"]


def numbers(result: dict[str, Any]) -> list[tuple[int, str]]:
    assert "errors" not in result, result
    edges = result["data"]["invoices"]["edges"]
    return [(edge["node"]["number"], edge["node"]["customer"]["id"]) for edge in edges]


async def test_claims_as_issued_pay_over_rest(db: Database) -> None:
    # given Ada's unpaid invoice and her session's claims as issued
    given = await given_sessions(db)
    # when she pays it over REST
    async with client_for(db) as client:
        body = {"invoice": 100123, "currency": "NGN"}
        response = await client.post(REST_PATH, json=body, headers=header(given.ada))
    # then it is paid
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"


async def test_claims_as_issued_act_as_their_session_on_a_websocket(db: Database) -> None:
    # given live sessions of Ada and of the tenant's admin
    given = await given_sessions(db)
    async with (
        serving(db) as served,
        served.socket(sign(given.operator)) as operator,
        served.socket(sign(given.ada)) as ada,
    ):
        # when Ada subscribes to her wallet and the admin tops up Bola's over its socket
        await ada.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
        wallet = await ada.next("w")
        await operator.subscribe("top-up", TOP_UP, given.top_up_input())
        top_up = await operator.next("top-up")
    # then each acts as its session
    assert wallet["walletUpdated"]["balance"] == {"amount": "50000.00", "currency": "NGN"}
    assert top_up["topUpWallet"]["balance"] == {"amount": "1700.00", "currency": "NGN"}
