"""The environment `invoicepay` runs in under test, and SQL run beside it (tests/cli)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Row, text

from app.db.engine import Database
from app.db.uow import UnitOfWork
from app.payments import PayInvoice, pay_invoice
from app.seed.demo import DEMO_CLONE_ID

SECRET = "cli-test-secret-" + "s" * 32
COUNTED_TABLES = ("tenants", "customers", "wallets", "invoices", "ledger_entries", "sessions")


def set_cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str | None = None) -> None:
    """The environment `invoicepay` reads. Every variable is set (empty when unused) so a
    developer's `.env` cannot leak into the tests."""
    monkeypatch.setenv("JWT_SECRET", SECRET)
    unused = (
        "JWT_PUBLIC_KEY",
        "JWT_JWKS_URL",
        "JWT_AUDIENCE",
        "JWT_ISSUER",
        "ENVIRONMENT",
        "GRAPHIQL",
        "RATE_LIMIT",
        "RATE_LIMIT_STORAGE_URL",
        "TRUSTED_PROXIES",
        "BLOCKED_IPS",
    )
    for name in unused:
        monkeypatch.setenv(name, "")
    if database_url is not None:
        monkeypatch.setenv("DATABASE_URL", database_url)


def query(database_url: str, sql: str, **params: Any) -> Sequence[Row[Any]]:
    async def run() -> Sequence[Row[Any]]:
        db = Database(database_url)
        try:
            async with db.write_engine.begin() as connection:
                result = await connection.execute(text(sql), params)
                return result.all() if result.returns_rows else []
        finally:
            await db.dispose()

    return asyncio.run(run())


class FakeServer:
    """Stands in for uvicorn.run: records how the server would have been started."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, app: Any, **options: Any) -> None:
        self.calls.append((app, options))


async def demo_payment(url: str) -> str:
    """The id of a payment of 5000.00 of the demo's invoice 100123 by its first customer."""
    db = Database(url)
    try:
        async with UnitOfWork(db) as uow:
            invoice = await uow.invoices.get_by_number(DEMO_CLONE_ID, 100123)
        assert invoice is not None
        command = PayInvoice(
            tenant_id=DEMO_CLONE_ID,
            customer_id=invoice.customer_id,
            invoice_number=100123,
            currency="NGN",
            amount=Decimal("5000.00"),
        )
        return (await pay_invoice(db, command)).payment_id
    finally:
        await db.dispose()
