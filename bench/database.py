"""The benchmark's throwaway databases on one PostgreSQL server: created fresh for a run,
dropped at its end whatever happened."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy import URL, make_url

from bench import cpu
from bench.progress import say

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_SECONDS = 10
LOCAL_HOSTS = (None, "127.0.0.1", "localhost", "::1")


def server_url() -> str:
    """`BENCH_DATABASE_URL` (any database on the server to use), else the local default."""
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server, as a URL to one of its databases."""

    url: URL

    @classmethod
    def parse(cls, url: str) -> Server:
        return cls(make_url(url).set(drivername="postgresql"))

    def dsn(self, database: str) -> str:
        """libpq/asyncpg form (pgbench and asyncpg)."""
        return self.url.set(database=database).render_as_string(hide_password=False)

    def app_url(self, database: str) -> str:
        """SQLAlchemy form, as the app's DATABASE_URL."""
        return self.url.set(drivername="postgresql+asyncpg", database=database).render_as_string(
            hide_password=False
        )

    def pgbench_args(self) -> list[str]:
        args = []
        if self.url.host:
            args += ["-h", self.url.host]
        if self.url.port:
            args += ["-p", str(self.url.port)]
        if self.url.username:
            args += ["-U", self.url.username]
        return args

    def pgbench_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.url.password:
            env["PGPASSWORD"] = self.url.password
        return env

    async def execute(self, sql: str, database: str | None = None) -> None:
        connection = await asyncpg.connect(
            self.dsn(database or self.url.database or "postgres"), timeout=CONNECT_SECONDS
        )
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def postmaster_pid(self) -> int | None:
        """The server's root process when it runs on this machine (for its CPU time)."""
        connection = await asyncpg.connect(
            self.dsn(self.url.database or "postgres"), timeout=CONNECT_SECONDS
        )
        try:
            backend = int(await connection.fetchval("SELECT pg_backend_pid()"))
            # Read while the backend lives: its parent is the postmaster.
            return cpu.parent_of(backend) if self.url.host in LOCAL_HOSTS else None
        finally:
            await connection.close()


def new_name(suffix: str = "") -> str:
    return f"invoicepay_bench_{secrets.token_hex(6)}{suffix}"


@contextmanager
def scratch_databases(server: Server, *names: str) -> Iterator[tuple[str, ...]]:
    """Create `names` fresh; drop them at the end (even on failure or Ctrl-C)."""
    created: list[str] = []
    try:
        for name in names:
            asyncio.run(server.execute(f'CREATE DATABASE "{name}"'))
            created.append(name)
        yield names
    finally:
        for name in created:
            try:
                asyncio.run(server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except (OSError, asyncpg.PostgresError) as error:
                say(f"could not drop database {name}: {error}")
