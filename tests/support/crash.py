"""After a SIGKILLed server (tests/support/live.py): waiting for what it left running in
PostgreSQL, and reading what was committed. Imported by module, by the crash tests."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from app.db.engine import Database


async def orphans_finished(db: Database, seconds: float = 15) -> None:
    """Wait until no other backend is running a statement on the test database: what a
    SIGKILLed server sent PostgreSQL goes on to its commit or rollback without it."""
    if db.is_sqlite:
        return  # the killed process's transaction died with it
    sql = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state = 'active'"
    )
    deadline = time.monotonic() + seconds
    while True:
        async with db.engine.connect() as connection:
            if (await connection.execute(sql)).scalar_one() == 0:
                return
        assert time.monotonic() < deadline, "statements of the killed server never finished"
        await asyncio.sleep(0.05)


async def stored_payments(db: Database) -> dict[str, int]:
    """Payment id -> amount (minor units) of every stored payment."""
    async with db.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, amount FROM payments"))).all()
    return {str(row[0]): int(row[1]) for row in rows}
