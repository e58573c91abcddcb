"""`/healthz` (the process is up) and `/readyz` (the database answers, at the newest
migration): no token, no rate limit, and a bounded wait."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.db.engine import Database
from app.db.migrate import alembic_config, head_revision
from tests.support import client_for

UNREACHABLE = {
    "sqlite": "sqlite+aiosqlite:////nonexistent-invoicepay-dir/invoicepay.db",
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:1/invoicepay",
}


@asynccontextmanager
async def revision_set_to(db: Database, revision: str | None) -> AsyncIterator[None]:
    """The database's recorded migration set to `revision` (none: no row), then restored."""
    head = head_revision()
    async with db.engine.begin() as connection:
        await connection.execute(text("DELETE FROM alembic_version"))
        if revision is not None:
            await connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision}
            )
    try:
        yield
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
            await connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head}
            )


def an_older_revision() -> str:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = [script.revision for script in scripts.walk_revisions()]
    # With one migration only, a revision id that is simply not the head.
    return revisions[1] if len(revisions) > 1 else "0000_before_" + revisions[0]


async def test_a_migrated_database_is_ready_and_needs_no_token(db: Database) -> None:
    async with client_for(db, rate_limit="1/minute") as client:
        # when probed, many times over, with no token, under a limit of one a minute
        health = [await client.get("/healthz") for _ in range(5)]
        ready = [await client.get("/readyz") for _ in range(5)]
    # then every probe is answered, none limited
    assert {(r.status_code, r.text) for r in health} == {(200, '{"status":"ok"}')}
    assert {r.status_code for r in ready} == {200}
    assert ready[0].json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
    assert ready[0].headers["cache-control"] == "no-store"


async def test_a_database_behind_the_newest_migration_is_not_ready(db: Database) -> None:
    older = an_older_revision()
    async with client_for(db) as client:
        # given a database whose schema is one migration behind, then one never migrated
        async with revision_set_to(db, older):
            behind = await client.get("/readyz")
        async with revision_set_to(db, None):
            never = await client.get("/readyz")
        again = await client.get("/readyz")
    # then it is not ready, and says it is the migrations; once at head, it is ready again
    head = head_revision()
    assert behind.status_code == 503
    assert behind.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": f"at {older}, expected {head}"},
        "failed": ["migrations"],
    }
    assert never.status_code == 503 and never.json()["failed"] == ["migrations"]
    assert never.json()["checks"]["migrations"] == f"not migrated, expected {head}"
    assert again.status_code == 200


@pytest.mark.parametrize("backend", list(UNREACHABLE))
async def test_a_database_that_does_not_answer_is_not_ready_but_the_process_is_healthy(
    backend: str,
) -> None:
    db = Database(UNREACHABLE[backend])
    try:
        async with client_for(db) as client:
            started = time.monotonic()
            ready = await client.get("/readyz")
            waited = time.monotonic() - started
            health = await client.get("/healthz")
    finally:
        await db.dispose()
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "migrations": "unknown"},
        "failed": ["database", "migrations"],
    }
    assert "nonexistent" not in ready.text and "127.0.0.1" not in ready.text
    assert waited < 3
    assert health.status_code == 200 and health.json() == {"status": "ok"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_readyz_waits_for_a_wedged_database_at_most_its_timeout(
    db: Database, database_url: str
) -> None:
    # given a transaction that holds every lock on alembic_version
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""), timeout=5)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        async with client_for(db) as client:
            # when readiness is asked
            started = time.monotonic()
            ready = await client.get("/readyz")
            waited = time.monotonic() - started
        await transaction.rollback()
    finally:
        await connection.close()
    # then it answers 503 after its timeout (2 s), not after the database's lock timeout
    assert ready.status_code == 503 and ready.json()["failed"] == ["database", "migrations"]
    assert 1.5 < waited < 5
