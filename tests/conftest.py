"""Test databases: every run migrates a fresh SQLite template and a fresh PostgreSQL
database (dropped at the end); every test gets a clean copy of the schema.

`TEST_DATABASE_URL` names the PostgreSQL server (default: the local one). Outside CI a
missing server skips the PostgreSQL half; with `CI=true` it fails the run instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import make_url
from sqlmodel import SQLModel

import app.db.models  # noqa: F401  (registers the tables)
from app.db.engine import Database
from app.db.migrate import upgrade
from app.ledger.verify import verify_ledger
from tests.support.figures import FIGURES

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
IN_CI = os.environ.get("CI", "").lower() == "true"
TABLES = ", ".join(SQLModel.metadata.tables)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(_dsn(url), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    server = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    name = f"invoicepay_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a clean, migrated database of each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_admin(url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture
def postgres_database_url(postgres_url: str) -> str:
    """A URL to a clean, migrated PostgreSQL database, for what only PostgreSQL does (row
    locks a read waits on, the hot path's statements)."""
    asyncio.run(_admin(postgres_url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    return postgres_url


async def _database(url: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    database = Database(url, pool_size=5)
    try:
        yield database
        if request.node.get_closest_marker("corrupts_ledger") is None:
            assert await verify_ledger(database) == []
    finally:
        await database.dispose()


@pytest.fixture
async def db(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A `Database` on a clean schema; after the test, every ledger invariant must hold
    (unless the test is marked `corrupts_ledger`)."""
    async for database in _database(database_url, request):
        yield database


@pytest.fixture
async def postgres_db(
    postgres_database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    """`db` on PostgreSQL alone."""
    async for database in _database(postgres_database_url, request):
        yield database


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the reliability tests reported (tests/support/figures.py)."""
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in FIGURES:
            terminalreporter.write_line(f"{name}: {value}")
