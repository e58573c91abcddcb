"""A REST payment does not read its session first when this process remembers it live:
the payment's own read confirms it. Revoking the session, letting it expire or
suspending its customer still refuses the very next payment, and writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.auth.tokens import SESSION_SQL, Sessions, _Session
from app.billing import admin
from app.db.engine import Database
from app.db.models import utcnow
from tests.support import (
    DEMO_CLONE,
    PAY_OUTCOME,
    VIEWER,
    World,
    client_for,
    given_ada_session,
    gql,
    invoice,
    rest_pay,
    sign,
    snapshot_all,
    suspend,
)

NUMBER = 100123
PART = {"currency": "NGN", "exchangeRate": 1, "chargeTotalCurrent": 1}
BODY = {"cloneId": DEMO_CLONE, "invoice": NUMBER, "currency": "NGN"}
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def paid(client: httpx.AsyncClient, token: str) -> int:
    """Pay 1.00 NGN of Ada's invoice over REST: the answer's status."""
    body = {**BODY, "partPaymentFromWalletBalance": PART}
    return (await rest_pay(client, body, token)).status_code


async def ada_with_an_invoice(db: Database) -> tuple[World, dict[str, Any]]:
    world, claims = await given_ada_session(db)
    await invoice(db, NUMBER, world.ada, "5000.00")
    return world, claims


async def expire(db: Database, jti: str) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(
            text("UPDATE sessions SET expires_at = :past WHERE jti = :jti"),
            {"past": utcnow() - timedelta(minutes=1), "jti": jti},
        )


@asynccontextmanager
async def ada_paying(db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, str, list[str]]]:
    """A client of one app, Ada's token, and every hot-path statement sent meanwhile."""
    seen: list[str] = []
    db.observer = lambda sql, _args, _rows: seen.append(sql)
    try:
        _world, claims = await ada_with_an_invoice(db)
        async with client_for(db) as client:
            yield client, sign(claims), seen
    finally:
        db.observer = None


@POSTGRESQL_ONLY
async def test_a_remembered_session_is_not_read_before_the_payment(db: Database) -> None:
    async with ada_paying(db) as (client, token, seen):
        # when Ada pays three times through one process
        statuses = [await paid(client, token) for _ in range(3)]
    # then each payment went through, and her session was read on its own only once
    assert statuses == [200, 200, 200]
    assert seen.count(SESSION_SQL) == 1


@pytest.mark.parametrize("end", ["revoked", "expired", "suspended"])
async def test_the_next_payment_after_the_session_ends_is_refused_and_writes_nothing(
    db: Database, end: str
) -> None:
    world, claims = await ada_with_an_invoice(db)
    token = sign(claims)
    async with client_for(db) as client:
        # given a payment that made this process remember Ada's session
        assert await paid(client, token) == 200
        # when her session is revoked, expires or she is suspended
        if end == "revoked":
            await admin.revoke_session(db, DEMO_CLONE, claims["jti"])
        elif end == "expired":
            await expire(db, claims["jti"])
        else:
            await suspend(db, world.ada)
        before = await snapshot_all(db)
        # then her next two payments are refused as if the session had been read
        refused = 403 if end == "suspended" else 401
        assert [await paid(client, token), await paid(client, token)] == [refused, refused]
    # and nothing was written
    assert await snapshot_all(db) == before


def session(jti: str, *, hours: int = 1, status: str | None = "ACTIVE") -> _Session:
    now = utcnow()
    return _Session(
        jti, DEMO_CLONE, "cus_1", "payments", now + timedelta(hours=hours), None, status
    )


def test_remembered_sessions_are_live_unsuspended_bounded_and_forgettable() -> None:
    sessions = Sessions(size=2)
    for kept in (session("a"), session("b"), session("c")):
        sessions.keep(kept)
    sessions.keep(session("suspended", status="SUSPENDED"))
    sessions.keep(session("expired", hours=-1))
    # the oldest went out, a suspended customer's session was never kept
    assert list(sessions.found) == ["c", "expired"]
    # an expired one is not answered (and is forgotten)
    assert sessions.get("expired") is None
    assert list(sessions.found) == ["c"]
    sessions.forget("c")
    assert sessions.get("c") is None


PAY_INPUT = {"input": {"invoiceNumber": NUMBER, "currency": "NGN", "amount": "1.00"}}
PAY_AND_LOOK = """
mutation PayAndLook($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename }
  refundPayment(input: {paymentId: "pay_x"}) { __typename }
}
"""


async def graphql(client: httpx.AsyncClient, token: str, query: str = PAY_OUTCOME) -> Any:
    variables = PAY_INPUT if "$input" in query else {}
    answer = await gql(client, query, variables, token)
    if "errors" in answer:
        return answer["errors"][0]["extensions"]["code"]
    return next(iter(answer["data"].values()))


@POSTGRESQL_ONLY
async def test_graphql_payments_alone_are_made_on_a_remembered_session(db: Database) -> None:
    async with ada_paying(db) as (client, token, seen):
        # when Ada pays three times through one process
        answers = [await graphql(client, token) for _ in range(3)]
    # then her session was read on its own once
    assert answers == [{"__typename": "PayInvoiceSuccess"}] * 3
    assert seen.count(SESSION_SQL) == 1


@POSTGRESQL_ONLY
async def test_a_document_with_more_than_payments_reads_its_session(db: Database) -> None:
    async with ada_paying(db) as (client, token, seen):
        # given her session remembered by a payment
        await graphql(client, token)
        # when she sends a payment with another field, then a query
        await gql(client, PAY_AND_LOOK, PAY_INPUT, token)
        await graphql(client, token, VIEWER)
    # then each of these read her session first
    assert seen.count(SESSION_SQL) == 3


@pytest.mark.parametrize("end", ["revoked", "suspended"])
async def test_after_a_remembered_session_ends_graphql_refuses_at_once(
    db: Database, end: str
) -> None:
    world, claims = await ada_with_an_invoice(db)
    token = sign(claims)
    async with client_for(db) as client:
        # given a payment that made this process remember Ada's session
        assert await graphql(client, token) == {"__typename": "PayInvoiceSuccess"}
        # when it ends
        if end == "revoked":
            await admin.revoke_session(db, DEMO_CLONE, claims["jti"])
        else:
            await suspend(db, world.ada)
        before = await snapshot_all(db)
        # then a query, and her next two payments, are refused
        code = "UNAUTHENTICATED" if end == "revoked" else "FORBIDDEN"
        answers = [await graphql(client, token, VIEWER)] + [
            await graphql(client, token) for _ in range(2)
        ]
    assert answers == [code, code, code]
    # and nothing was written
    assert await snapshot_all(db) == before


async def test_a_remembered_session_revoked_refuses_the_next_graphql_payment(
    db: Database,
) -> None:
    _world, claims = await ada_with_an_invoice(db)
    token = sign(claims)
    async with client_for(db) as client:
        assert await graphql(client, token) == {"__typename": "PayInvoiceSuccess"}
        await admin.revoke_session(db, DEMO_CLONE, claims["jti"])
        before = await snapshot_all(db)
        # the very next request is a payment: its own read finds the session revoked
        assert await graphql(client, token) == "UNAUTHENTICATED"
    assert await snapshot_all(db) == before
