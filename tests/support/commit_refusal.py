"""`payments_refused_at_commit`: a deferred constraint trigger that makes the COMMIT of any
new payment fail (PostgreSQL only), for tests that prove a failed commit leaves no trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from app.db.engine import Database


@asynccontextmanager
async def payments_refused_at_commit(db: Database) -> AsyncIterator[None]:
    """Inside, every transaction that inserts a payment fails at COMMIT ('refused at commit')."""
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_payments AFTER INSERT ON payments"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
            )
        )
    try:
        yield
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER refuse_payments ON payments"))
            await connection.execute(text("DROP FUNCTION refuse_at_commit()"))
