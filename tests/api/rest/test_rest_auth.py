"""Check.UNAUTHENTICATED on `POST /api/v1/billing/invoice/pay`: every way a token can be
wrong is the same 401 `Unauthorized` (with `WWW-Authenticate: Bearer`) and writes nothing.

The table reuses the bad tokens of tests/auth/test_auth_tokens.py, which checks each of them
on GraphQL; the cases that need other key settings are checked on GraphQL here too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text, update
from sqlmodel import col

from app.billing import admin
from app.db.engine import Database
from app.db.models import AuthSession, utcnow
from tests.support import (
    BAD_HEADERS,
    DEMO_CLONE,
    RSA_KEY,
    Header,
    World,
    client_for,
    error_codes,
    given_ada_session,
    hs256_by_hand,
    invoice,
    make_world,
    public_pem,
    sign,
    snapshot_all,
    token_for,
)
from tests.support import PAY_OUTCOME as PAY

PATH = "/api/v1/billing/invoice/pay"
PAY_BODY = {"invoice": 100123, "currency": "NGN"}
PEM = public_pem(RSA_KEY)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RS256_CONFIGURED = {"jwt_public_key": PEM}
AUD_ISS_CONFIGURED = {"jwt_audience": "invoicepay", "jwt_issuer": "auth.test"}
AUD_ISS = {"aud": "invoicepay", "iss": "auth.test"}

Prepare = Callable[[Database, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    header: Header
    settings: dict[str, Any] = field(default_factory=dict)
    prepare: Prepare | None = None


async def revoke(db: Database, claims: dict[str, Any]) -> None:
    await admin.revoke_session(db, DEMO_CLONE, claims["jti"])


async def expire_on_the_server(db: Database, claims: dict[str, Any]) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(
            update(AuthSession)
            .where(col(AuthSession.jti) == claims["jti"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


# Bad only under other key settings; tests/auth/test_auth_tokens.py does not cover these.
CONFIGURED_CASES: dict[str, Case] = {
    "RS256 configured, HS256 signed with the public key as secret": Case(
        lambda c, w: f"Bearer {hs256_by_hand(c, PEM.encode())}", RS256_CONFIGURED
    ),
    "RS256 configured, HS256 signed with the shared secret": Case(
        lambda c, w: f"Bearer {sign(c)}", RS256_CONFIGURED
    ),
    "RS256 configured, RS256 signed by another key": Case(
        lambda c, w: f"Bearer {jwt.encode(c, OTHER_RSA_KEY, algorithm='RS256')}",
        RS256_CONFIGURED,
    ),
    "wrong aud": Case(
        lambda c, w: f"Bearer {sign({**c, **AUD_ISS, 'aud': 'other'})}", AUD_ISS_CONFIGURED
    ),
    "wrong iss": Case(
        lambda c, w: f"Bearer {sign({**c, **AUD_ISS, 'iss': 'elsewhere'})}", AUD_ISS_CONFIGURED
    ),
    "no aud nor iss when configured": Case(lambda c, w: f"Bearer {sign(c)}", AUD_ISS_CONFIGURED),
}

CASES: dict[str, Case] = {
    **{name: Case(header) for name, header in BAD_HEADERS.items()},
    "revoked jti": Case(lambda c, w: f"Bearer {sign(c)}", prepare=revoke),
    "session expired on the server": Case(
        lambda c, w: f"Bearer {sign(c)}", prepare=expire_on_the_server
    ),
    **CONFIGURED_CASES,
}

# What each configuration accepts: the control that makes its refusals mean something.
GOOD_TOKENS: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], str]]] = {
    "HS256 with the shared secret": ({}, sign),
    "RS256 configured": (RS256_CONFIGURED, lambda c: jwt.encode(c, RSA_KEY, algorithm="RS256")),
    "aud and iss configured": (AUD_ISS_CONFIGURED, lambda c: sign({**c, **AUD_ISS})),
}


async def pay_over_rest(db: Database, header: str | None, **settings: Any) -> httpx.Response:
    headers = {} if header is None else {"Authorization": header}
    async with client_for(db, **settings) as client:
        return await client.post(PATH, json=PAY_BODY, headers=headers)


async def pay_over_graphql(db: Database, header: str | None, **settings: Any) -> dict[str, Any]:
    headers = {} if header is None else {"Authorization": header}
    variables = {"input": {"invoiceNumber": 100123, "currency": "NGN"}}
    async with client_for(db, **settings) as client:
        response = await client.post(
            "/graphql", json={"query": PAY, "variables": variables}, headers=headers
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def given_ada_owes_an_invoice(db: Database, case: Case) -> tuple[World, str | None]:
    """Ada's live session, her unpaid invoice 100123, and the case's header for it."""
    world, claims = await given_ada_session(db)
    await invoice(db, 100123, world.ada, "15000")
    if case.prepare is not None:
        await case.prepare(db, claims)
    return world, case.header(claims, world)


@pytest.mark.parametrize("name", list(CASES))
async def test_a_bad_token_gets_401_over_rest_and_writes_nothing(db: Database, name: str) -> None:
    # given Ada's unpaid invoice, which her NGN wallet covers
    case = CASES[name]
    _world, header = await given_ada_owes_an_invoice(db, case)
    before = await snapshot_all(db)
    # when it is paid over REST with a token that is wrong in one way
    response = await pay_over_rest(db, header, **case.settings)
    # then the answer is the one 401, and nothing was written
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert await snapshot_all(db) == before


@pytest.mark.parametrize("name", list(CONFIGURED_CASES))
async def test_a_token_refused_by_the_key_settings_is_unauthenticated_on_graphql(
    db: Database, name: str
) -> None:
    # given Ada's unpaid invoice
    case = CONFIGURED_CASES[name]
    _world, header = await given_ada_owes_an_invoice(db, case)
    before = await snapshot_all(db)
    # when it is paid over GraphQL with a token these settings refuse
    result = await pay_over_graphql(db, header, **case.settings)
    # then it is UNAUTHENTICATED with no data, and nothing was written
    assert error_codes(result) == ["UNAUTHENTICATED"], result
    assert result["errors"][0]["message"] == "Unauthorized"
    assert result["data"] is None
    assert await snapshot_all(db) == before


@pytest.mark.parametrize("name", list(GOOD_TOKENS))
async def test_a_proper_token_pays_over_rest_under_each_key_setting(
    db: Database, name: str
) -> None:
    # given Ada's unpaid invoice and a token these settings accept
    settings, signed = GOOD_TOKENS[name]
    world, claims = await given_ada_session(db)
    await invoice(db, 100123, world.ada, "15000")
    # when she pays it over REST
    response = await pay_over_rest(db, f"Bearer {signed(claims)}", **settings)
    # then it is paid
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"


async def test_a_valid_token_of_a_deleted_customer_is_user_not_found(db: Database) -> None:
    # given a customer with no wallets, her live token, then her row deleted
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    cleo = await admin.create_customer(db, DEMO_CLONE, "Cleo Eze", "cleo@example.com")
    token = await token_for(db, DEMO_CLONE, cleo.id)
    async with db.engine.begin() as connection:
        await connection.execute(text("DELETE FROM customers WHERE id = :id"), {"id": cleo.id})
    before = await snapshot_all(db)
    # when her token is used to pay, over REST and over GraphQL
    response = await pay_over_rest(db, f"Bearer {token}")
    result = await pay_over_graphql(db, f"Bearer {token}")
    # then the token is valid but its customer is gone: 404 / UserNotFound, nothing written
    assert response.status_code == 404, response.text
    assert response.json() == {"message": "User not found"}
    assert result == {"data": {"payInvoice": {"__typename": "UserNotFound"}}}
    assert await snapshot_all(db) == before
