"""`settled_deadlocks`: PostgreSQL's count of deadlocks in the test database, read once
every other backend has exited (a backend flushes its statistics when it exits), for tests
that race live servers and must show no deadlock."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from app.db.engine import Database
from app.events.hub import committed_notices

OTHER_BACKENDS = (
    "SELECT application_name, state, query FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND backend_type = 'client backend'"
)
DEADLOCKS = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"


async def settled_deadlocks(db: Database) -> int:
    """`pg_stat_database.deadlocks` once no other client backend of the database is left
    (our own pooled connections are closed first: they are backends too; the payments'
    notices still queued go out before, or one would open the pool again afterwards)."""
    await committed_notices(db).drain()
    await db.close_connections()
    others: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while True:
                async with db.engine.connect() as connection:
                    others = list((await connection.execute(text(OTHER_BACKENDS))).all())
                    if not others:
                        await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
                        return int((await connection.execute(text(DEADLOCKS))).scalar_one())
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"backends still connected: {others}") from None
