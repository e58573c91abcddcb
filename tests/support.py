"""Shared test helpers: an app over a test database, a world of tenants, customers and
tokens, and a GraphQL call helper. Tests read as given / when / then on top of these."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from app import admin
from app.auth import issue_token
from app.config import Settings
from app.db import Database
from app.web import create_app

SECRET = "test-secret-" + "x" * 40
DEMO_CLONE = "64f000000000000000000002"
OTHER_CLONE = "64f0000000000000000000ff"


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "jwt_secret": SECRET}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def client_for(db: Database, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(test_settings(db.url, **overrides), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def token_for(db: Database, tenant_id: str, customer_id: str | None) -> str:
    session = await admin.create_session(db, tenant_id, customer_id=customer_id, ttl_seconds=3600)
    return issue_token(test_settings(db.url), session)


@dataclass
class World:
    """Two tenants; in the demo tenant Ada (NGN 50000, USD 500) and Bola (NGN 1000)."""

    ada: str
    bola: str
    stranger: str
    ada_token: str
    bola_token: str
    admin_token: str
    stranger_token: str
    other_admin_token: str


async def make_world(db: Database) -> World:
    await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
    await admin.create_tenant(db, OTHER_CLONE, "Other Clone")
    ada = await admin.create_customer(db, DEMO_CLONE, "Ada Obi", "ada@example.com")
    bola = await admin.create_customer(db, DEMO_CLONE, "Bola Ade", "bola@example.com")
    stranger = await admin.create_customer(db, OTHER_CLONE, "Sam Other", "sam@example.com")
    await admin.top_up_wallet(db, DEMO_CLONE, ada.id, "NGN", Decimal("50000.00"))
    await admin.top_up_wallet(db, DEMO_CLONE, ada.id, "USD", Decimal("500.00"))
    await admin.top_up_wallet(db, DEMO_CLONE, bola.id, "NGN", Decimal("1000.00"))
    await admin.top_up_wallet(db, OTHER_CLONE, stranger.id, "NGN", Decimal("900.00"))
    return World(
        ada=ada.id,
        bola=bola.id,
        stranger=stranger.id,
        ada_token=await token_for(db, DEMO_CLONE, ada.id),
        bola_token=await token_for(db, DEMO_CLONE, bola.id),
        admin_token=await token_for(db, DEMO_CLONE, None),
        stranger_token=await token_for(db, OTHER_CLONE, stranger.id),
        other_admin_token=await token_for(db, OTHER_CLONE, None),
    )


async def invoice(
    db: Database,
    number: int,
    customer_id: str,
    total: str,
    currency: str = "NGN",
    tenant_id: str = DEMO_CLONE,
    **terms: Any,
) -> None:
    await admin.create_invoice(
        db,
        tenant_id,
        admin.NewInvoice(
            number=number,
            customer_id=customer_id,
            currency=currency,
            total=Decimal(total),
            **terms,
        ),
    )


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def snapshot(db: Database) -> dict[str, Any]:
    """Everything money-related, to prove a failed request wrote nothing."""
    queries = {
        "wallets": "SELECT id, balance FROM wallets ORDER BY id",
        "invoices": "SELECT id, amount_paid, discount_applied, status FROM invoices ORDER BY id",
        "payments": "SELECT count(*) FROM payments",
        "ledger": "SELECT count(*), coalesce(sum(amount), 0) FROM ledger_entries",
    }
    async with db.engine.connect() as connection:
        return {
            name: [tuple(row) for row in (await connection.execute(text(sql))).all()]
            for name, sql in queries.items()
        }
