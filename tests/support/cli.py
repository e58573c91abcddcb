"""The environment `invoicepay` runs in under test, and SQL run beside it (tests/cli)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Row, text

from app.db.engine import Database

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
