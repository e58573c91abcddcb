"""Shared test helpers: an app over a test database, a world of tenants, customers and
tokens, and a GraphQL call helper. Tests read as given / when / then on top of these."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import event, text

from app.auth.tokens import issue_token
from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from app.http.ratelimit import RateLimiter
from app.payments import PayInvoice, pay_invoice
from app.web import create_app

SECRET = "test-secret-" + "x" * 40
DEMO_CLONE = "64f000000000000000000002"
OTHER_CLONE = "64f0000000000000000000ff"


def test_settings(database_url: str, **overrides: Any) -> Settings:
    # Tests of other things must never meet the rate limit; its own tests set one.
    # Development (introspection, GraphiQL) unless a test asks for production.
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": SECRET,
        "rate_limit": "100000/minute",
        "environment": "development",
    }
    values.update(overrides)
    values.setdefault("graphiql", values["environment"] != "production")
    return Settings(**values)


@asynccontextmanager
async def client_for(
    db: Database, *, peer: str = "127.0.0.1", limiter: RateLimiter | None = None, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app on `db`; `peer` is the TCP address the app sees the client at."""
    app = create_app(test_settings(db.url, **overrides), db=db, limiter=limiter)
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
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
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # ASCII-escaped JSON, as many clients send it: it can carry any string, even "\ud800".
    sent = json.dumps({"query": query, "variables": variables or {}})
    response = await client.post("/graphql", content=sent, headers=headers)
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


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


@contextmanager
def counting_statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement sent to the database while the block runs (N+1 checks).

    Transaction control is left out: SQLite sends `BEGIN` through the cursor, PostgreSQL
    does not, and only the queries should count the same on both backends."""
    statements: list[str] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if statement.split(maxsplit=1)[0].upper() not in TRANSACTION_CONTROL:
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def snapshot_all(db: Database) -> dict[str, Any]:
    """`snapshot` plus customers, invoices in full and sessions: a failed admin call
    or a refused request must leave all of them as they were."""
    queries = {
        "customers": "SELECT id, tenant_id, name, email, status FROM customers ORDER BY id",
        "invoices_full": (
            "SELECT id, tenant_id, number, customer_id, currency, total, status, due_at,"
            " discount_percent, discount_until FROM invoices ORDER BY id"
        ),
        "sessions": "SELECT jti, revoked_at FROM sessions ORDER BY jti",
        "ledger_rows": (
            "SELECT id, wallet_id, amount, balance_after FROM ledger_entries ORDER BY id"
        ),
    }
    async with db.engine.connect() as connection:
        extra = {
            name: [tuple(row) for row in (await connection.execute(text(sql))).all()]
            for name, sql in queries.items()
        }
    return {**await snapshot(db), **extra}


async def make_payment(
    db: Database,
    customer_id: str,
    number: int,
    amount: str,
    currency: str = "NGN",
    tenant_id: str = DEMO_CLONE,
) -> str:
    """Pay `amount` of invoice `number` through the service; the new payment's id."""
    receipt = await pay_invoice(
        db,
        PayInvoice(
            tenant_id=tenant_id,
            customer_id=customer_id,
            invoice_number=number,
            currency=currency,
            amount=Decimal(amount),
        ),
    )
    return receipt.payment_id


# --- payInvoice helpers (tests/test_pay_*.py) ---

REST_PAY = "/api/v1/billing/invoice/pay"

# The seed document's example request, byte for byte.
SEED_REQUEST = b"""{
  "cloneId": "64f000000000000000000002",
  "invoice": 100123,
  "currency": "NGN",
  "partPaymentFromWalletBalance": {
    "currency": "NGN",
    "exchangeRate": 1,
    "chargeTotalBefore": 15000,
    "chargeTotalCurrent": 5000
  }
}"""


async def rest_pay(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    token: str | None = None,
    **headers: str,
) -> httpx.Response:
    """POST `body` to the REST route; keyword headers use `_` for `-` (Idempotency_Key)."""
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return await client.post(REST_PAY, json=body, headers=sent)


async def pay_through_graphql(
    client: httpx.AsyncClient, document: str, token: str, request: dict[str, Any]
) -> dict[str, Any]:
    """Run a payInvoice `document` with `request` as `$input`: the union member answered."""
    result = await gql(client, document, {"input": request}, token)
    assert "errors" not in result, result
    answer: dict[str, Any] = result["data"]["payInvoice"]
    return answer


async def ledger_imbalances(db: Database) -> list[tuple[Any, ...]]:
    """(transaction, currency, sum) of every ledger transaction that does not balance."""
    sql = (
        "SELECT transaction_id, currency, sum(amount) FROM ledger_entries"
        " GROUP BY transaction_id, currency HAVING sum(amount) <> 0"
    )
    async with db.engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(text(sql))).all()]


@dataclass(frozen=True)
class WalletBooks:
    """A wallet as stored beside its ledger entries (minor units)."""

    balance: int
    ledger_sum: int
    lowest_balance_after: int
    entries: int


async def wallet_books(db: Database, customer_id: str, currency: str) -> WalletBooks:
    sql = (
        "SELECT w.balance, coalesce(sum(e.amount), 0), coalesce(min(e.balance_after), 0),"
        " count(e.id) FROM wallets w LEFT JOIN ledger_entries e ON e.wallet_id = w.id"
        " WHERE w.customer_id = :customer AND w.currency = :currency GROUP BY w.balance"
    )
    params = {"customer": customer_id, "currency": currency}
    async with db.engine.connect() as connection:
        row = (await connection.execute(text(sql), params)).one()
    return WalletBooks(*(int(value) for value in row))


def error_codes(result: dict[str, Any]) -> list[str]:
    """The `extensions.code` of each top-level error (empty when there is none)."""
    return [error.get("extensions", {}).get("code", "") for error in result.get("errors") or []]
