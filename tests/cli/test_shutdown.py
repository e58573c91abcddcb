"""Graceful shutdown (live): on SIGTERM `invoicepay serve` stops accepting connections,
lets the payment in flight finish and answer, closes the pool, and exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from sqlalchemy import make_url, text

from app.cli import commands as cli
from app.db.engine import Database
from app.observability.metrics import MULTIPROC_DIR
from tests.support import invoice, make_world, rest_pay
from tests.support.live import LiveServer, live_server, server_env

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

WALLET_OF = "SELECT id FROM wallets WHERE customer_id = {} AND currency = 'NGN' FOR UPDATE"


@asynccontextmanager
async def wallet_locked(database_url: str, customer_id: str) -> AsyncIterator[None]:
    """Another transaction holds the customer's NGN wallet: on PostgreSQL its row lock,
    on SQLite the database's write lock (what every payment takes first)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(str(url.database), isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    holder = await asyncpg.connect(dsn, timeout=5)
    try:
        transaction = holder.transaction()
        await transaction.start()
        assert await holder.fetchval(WALLET_OF.format("$1"), customer_id) is not None
        yield
        await transaction.rollback()
    finally:
        await holder.close()


async def until_blocked(db: Database, started: float) -> None:
    """Until a statement of the server waits on a lock (PostgreSQL), or a second has
    passed since the payment was sent (SQLite waits inside the driver, unseen)."""
    if db.is_sqlite:
        await asyncio.sleep(max(0.0, started + 1 - time.monotonic()))
        return
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(10):
        while True:
            async with db.engine.connect() as connection:
                if (await connection.execute(text(waiting))).scalar_one():
                    return
            await asyncio.sleep(0.05)


async def refuses_connections(server: LiveServer) -> bool:
    """Whether a new TCP connection to the server is refused (waits up to 5 s for it)."""
    async with asyncio.timeout(5):
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            except ConnectionRefusedError:
                return True
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.05)


async def test_sigterm_lets_the_payment_in_flight_finish_then_exits_cleanly(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    # given a served app, and Ada's invoice of 100.00
    world = await make_world(db)
    await invoice(db, 900, world.ada, "100")
    body = {"invoice": 900, "currency": "NGN"}
    async with live_server(database_url, log_path=tmp_path / "server.log") as server:
        assert server.process is not None
        async with server.client() as client:
            async with wallet_locked(database_url, world.ada):
                # when her payment is in flight, waiting for her wallet
                started = time.monotonic()
                payment = asyncio.create_task(rest_pay(client, body, world.ada_token))
                await until_blocked(db, started)
                assert not payment.done()
                # and the server is told to stop
                server.terminate()
                # then it refuses new connections at once, while the payment still waits
                assert await refuses_connections(server)
                await asyncio.sleep(0.5)  # (uvicorn looks at its connections after 0.1 s)
                assert not payment.done()
                assert server.process.returncode is None
            # and once the wallet is free the payment finishes, and is answered
            answer = await asyncio.wait_for(payment, timeout=30)
        async with asyncio.timeout(30):
            await server.wait_dead()
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "paid"
    # and it stands in the database
    async with db.engine.connect() as connection:
        stored = await connection.execute(
            text(
                "SELECT i.status, count(p.id) FROM invoices i JOIN payments p"
                " ON p.invoice_id = i.id WHERE i.number = 900 GROUP BY i.status"
            )
        )
        assert [tuple(row) for row in stored] == [("PAID", 1)]
    # and the server closed its pool and exited 0
    log = server.log()
    assert "Waiting for connections to close" in log
    assert "database pool closed" in log
    assert server.process.returncode == 0, log[-2000:]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_bounds_the_graceful_wait_and_sets_up_metrics_for_its_workers(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given `serve` with uvicorn.run recorded instead of run
    calls: list[dict[str, Any]] = []

    def run(_app: str, **options: Any) -> None:
        calls.append({**options, "multiproc_dir": os.environ.get(MULTIPROC_DIR)})

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.delenv(MULTIPROC_DIR, raising=False)
    for name, value in server_env(database_url, ENVIRONMENT="production").items():
        monkeypatch.setenv(name, value)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    # when it is started with the defaults, then with a bound and four workers
    assert cli.main(["serve"]) == 0
    assert cli.main(["serve", "--graceful-timeout", "5", "--workers", "4"]) == 0
    # then uvicorn waits 30 s, or the bound, for the requests in flight
    assert [call["timeout_graceful_shutdown"] for call in calls] == [30, 5]
    # and logs JSON in production
    formatters = calls[0]["log_config"]["formatters"]
    assert {f["()"] for f in formatters.values()} == {"app.observability.logs.JsonFormatter"}
    # and several workers share a metrics directory, gone once the server stopped
    assert calls[0]["multiproc_dir"] is None
    shared = calls[1]["multiproc_dir"]
    assert shared is not None and not Path(shared).exists()
    assert MULTIPROC_DIR not in os.environ
    # and the process's signal handlers are its own again
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
