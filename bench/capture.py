"""Record the SQL the app sends, with its parameters and the rows it got back.

    with recording(db) as events:
        await pay_invoice(db, command)
    # events: "CHECKOUT", "BEGIN", Statement(...), ..., "COMMIT"

`CHECKOUT` is a connection taken from the SQLAlchemy pool (with `pool_pre_ping` that is
itself a round trip the cursor events do not show). The hot path's statements on its own
asyncpg pool (app.db.engine `pg_fetchrow`) are recorded through `Database.observer`; each runs
on its own (autocommit), with no BEGIN or COMMIT. Rows are read from the asyncpg adapter's
buffer, which SQLAlchemy fills before handing results on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from app.db.engine import Database


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


Event = Statement | str


@contextmanager
def recording(db: Database) -> Iterator[list[Event]]:
    events: list[Event] = []
    engine = db.engine.sync_engine

    def after(
        _conn: Any, cursor: Any, statement: str, params: Any, _context: Any, many: bool
    ) -> None:
        params = tuple(params or ())
        # `many` is also set for an insertmanyvalues batch: one statement, flat parameters.
        if many and params and isinstance(params[0], list | tuple):
            raise NotImplementedError("a true executemany cannot be replayed as one statement")
        columns = tuple(str(column[0]) for column in cursor.description or ())
        rows = tuple(tuple(row) for row in getattr(cursor, "_rows", ()))
        events.append(Statement(statement, params, columns, rows))

    def marker(name: str) -> Any:
        def listener(*_args: Any) -> None:
            events.append(name)

        return listener

    listeners: list[tuple[Any, str, Any]] = [
        (engine, "after_cursor_execute", after),
        (engine, "begin", marker("BEGIN")),
        (engine, "commit", marker("COMMIT")),
        (engine, "rollback", marker("ROLLBACK")),
        (engine.pool, "checkout", marker("CHECKOUT")),
    ]

    def observed(sql: str, params: tuple[Any, ...], rows: list[Any]) -> None:
        # The hot path's own asyncpg statements (app.db.engine.Database.pg_fetchrow): each one
        # runs on its own, outside any transaction block (autocommit).
        columns = tuple(rows[0].keys()) if rows else ()
        events.append(Statement(sql, params, columns, tuple(tuple(r.values()) for r in rows)))

    for target, name, listener in listeners:
        event.listen(target, name, listener)
    db.observer = observed
    try:
        yield events
    finally:
        db.observer = None
        for target, name, listener in listeners:
            event.remove(target, name, listener)


def statements(events: list[Event]) -> list[Statement]:
    return [e for e in events if isinstance(e, Statement)]


def summary(events: list[Event], *, pre_ping: bool) -> dict[str, Any]:
    """Counts for the report: what a request costs the app in SQL and round trips.

    With `pre_ping` every checkout first runs BEGIN, an empty query and ROLLBACK (the
    asyncpg dialect's ping), which the cursor events do not show."""
    found = statements(events)
    counts = {
        "statements": len(found),
        "transactions": events.count("BEGIN"),
        "commits": events.count("COMMIT"),
        "rollbacks": events.count("ROLLBACK"),
        "pool_checkouts": events.count("CHECKOUT"),
    }
    round_trips = (
        counts["statements"]
        + counts["transactions"]
        + counts["commits"]
        + counts["rollbacks"]
        + (3 * counts["pool_checkouts"] if pre_ping else 0)
    )
    return {
        **counts,
        "pre_ping": pre_ping,
        "round_trips": round_trips,
        "sql": [" ".join(s.sql.split())[:160] for s in found],
    }
