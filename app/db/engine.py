"""Engines for the two backends.

SQLite: every transaction that may move money starts with `BEGIN IMMEDIATE`, taking
the database write lock up front, so two writers never read the same balance.
PostgreSQL: money rows are locked with `SELECT … FOR UPDATE` by the repositories.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_BEGIN_MODE = "invoicepay_sqlite_begin"

# Nothing waits on the database without a bound: a request that cannot get a connection,
# or whose statement cannot finish, fails (503, app.db.unavailable) instead of hanging.
CONNECT_TIMEOUT_SECONDS = 5
POOL_TIMEOUT_SECONDS = 30
COMMAND_TIMEOUT_SECONDS = 30
# Server side, PostgreSQL: a row lock waited on longer than this (a wedged transaction)
# ends the waiting statement, and a transaction a client left idle is rolled back.
PG_SERVER_SETTINGS = {
    "lock_timeout": "10s",
    "statement_timeout": "30s",
    "idle_in_transaction_session_timeout": "60s",
}


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves; the driver's implicit BEGIN is DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_MODE, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


# What the hot path's raw statements are shown to, when set (bench/capture.py records the
# SQL a payment sends): the statement, its parameters and the rows it returned.
StatementObserver = Callable[[str, tuple[Any, ...], list[Any]], None]


class Database:
    """The engine, plus a twin whose transactions take the write lock at BEGIN on SQLite.

    On PostgreSQL the hot path (authentication, `pay_invoice`) also has a plain asyncpg
    pool (`pg_pool()`): its statements are prepared once per connection and run without
    ORM or pool-ping overhead. Its connections share the engine's limits and timeouts."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.pool_size = pool_size
        self.observer: StatementObserver | None = None
        self._pg_pool: asyncpg.Pool | None = None
        self._pg_pool_lock = asyncio.Lock()
        self.disposed = False
        # Parameters stay out of error messages and logs: they carry memos and token ids.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if not self.is_sqlite:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=POOL_TIMEOUT_SECONDS,
                connect_args={
                    "timeout": CONNECT_TIMEOUT_SECONDS,
                    "command_timeout": COMMAND_TIMEOUT_SECONDS,
                    "server_settings": PG_SERVER_SETTINGS,
                },
            )
        self.engine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
            self.write_engine = self.engine.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
        else:
            self.write_engine = self.engine

    async def pg_pool(self) -> asyncpg.Pool:
        """The asyncpg pool of the hot path (PostgreSQL only), made on first use."""
        if self._pg_pool is None:
            async with self._pg_pool_lock:
                if self.disposed:
                    # Late work (say, a notice sent after shutdown) must not open a pool
                    # that nothing would ever close.
                    raise RuntimeError("the database was disposed")
                if self._pg_pool is None:
                    self._pg_pool = await asyncpg.create_pool(
                        pg_dsn(self.url),
                        min_size=0,
                        max_size=self.pool_size * 2,
                        timeout=CONNECT_TIMEOUT_SECONDS,
                        command_timeout=COMMAND_TIMEOUT_SECONDS,
                        server_settings=PG_SERVER_SETTINGS,
                        reset=_keep_session,
                    )
        return self._pg_pool

    async def pg_fetchrow(
        self, connection: asyncpg.Connection, sql: str, *args: Any
    ) -> asyncpg.Record | None:
        """One hot-path statement's first row (shown to `observer`, when one is set)."""
        try:
            row: asyncpg.Record | None = await connection.fetchrow(sql, *args)
        except asyncpg.InternalClientError:
            # The protocol's state is unknown (the server ended the connection under it):
            # never hand this connection out again. app.db.unavailable answers it 503.
            connection.terminate()
            raise
        if self.observer is not None:
            self.observer(sql, args, [] if row is None else [row])
        return row

    def pg_pool_usage(self) -> tuple[int, int]:
        """(connections in use, connections open) of the hot path's pool; (0, 0) before
        its first use and on SQLite."""
        pool = self._pg_pool
        if pool is None:
            return 0, 0
        size = pool.get_size()
        return size - pool.get_idle_size(), size

    async def close_connections(self) -> None:
        """Close every pooled connection (both pools); new ones are made on next use."""
        if self._pg_pool is not None:
            pool, self._pg_pool = self._pg_pool, None
            await pool.close()
        await self.engine.dispose()

    async def dispose(self) -> None:
        """Close every connection for good: no pool opens again afterwards."""
        self.disposed = True
        await self.close_connections()


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """No `RESET ALL; UNLISTEN *; …` round trip when a connection goes back to the pool:
    the hot path never changes session state (asyncpg still ends any open transaction)."""


def pg_dsn(url: str) -> str:
    """A libpq DSN (for asyncpg itself) from an SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
