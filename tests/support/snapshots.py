"""What the database holds, read back to prove what a request wrote (or did not)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text

from app.db.engine import Database


async def rows_of(db: Database, queries: dict[str, str]) -> dict[str, Any]:
    """Each query's rows as tuples, by name."""
    async with db.engine.connect() as connection:
        return {
            name: [tuple(row) for row in (await connection.execute(text(sql))).all()]
            for name, sql in queries.items()
        }


async def snapshot(db: Database) -> dict[str, Any]:
    """Everything money-related, to prove a failed request wrote nothing."""
    return await rows_of(
        db,
        {
            "wallets": "SELECT id, balance FROM wallets ORDER BY id",
            "invoices": (
                "SELECT id, amount_paid, discount_applied, status FROM invoices ORDER BY id"
            ),
            "payments": "SELECT count(*) FROM payments",
            "ledger": "SELECT count(*), coalesce(sum(amount), 0) FROM ledger_entries",
        },
    )


async def snapshot_all(db: Database) -> dict[str, Any]:
    """`snapshot` plus customers, invoices in full and sessions: a failed admin call
    or a refused request must leave all of them as they were."""
    extra = await rows_of(
        db,
        {
            "customers": "SELECT id, tenant_id, name, email, status FROM customers ORDER BY id",
            "invoices_full": (
                "SELECT id, tenant_id, number, customer_id, currency, total, status, due_at,"
                " discount_percent, discount_until FROM invoices ORDER BY id"
            ),
            "sessions": "SELECT jti, revoked_at FROM sessions ORDER BY jti",
            "ledger_rows": (
                "SELECT id, wallet_id, amount, balance_after FROM ledger_entries ORDER BY id"
            ),
        },
    )
    return {**await snapshot(db), **extra}


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


async def ledger_imbalances(db: Database) -> list[tuple[Any, ...]]:
    """(transaction, currency, sum) of every ledger transaction that does not balance."""
    sql = (
        "SELECT transaction_id, currency, sum(amount) FROM ledger_entries"
        " GROUP BY transaction_id, currency HAVING sum(amount) <> 0"
    )
    return list((await rows_of(db, {"rows": sql}))["rows"])


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
