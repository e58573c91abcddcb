"""Faults under a real server (tests/support/live.py): a database connection killed in the middle
of a payment, the server SIGKILLed under load, PostgreSQL restarted under load.

Afterwards every payment is wholly there or not at all (the `db` fixture runs `ledger
verify` after each test, and each test checks the books besides), the service recovers
by itself, and while it cannot reach the database it answers 503 with a clear message,
never a 500 and never a hang."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import make_url, text

from app.db.engine import Database
from app.db.unavailable import SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_CODE
from tests.support import REST_PAY, client_for, invoice, make_world, snapshot, wallet_books
from tests.support.crash import orphans_finished, stored_payments
from tests.support.figures import report
from tests.support.live import LiveServer, live_server

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
# Every request of these tests is bounded; none may reach this.
CLIENT_TIMEOUT_SECONDS = 20

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on PayInvoiceSuccess { replayed payment { id } }
    ... on Error { code }
  }
}
"""


@dataclass(frozen=True)
class Answer:
    """One payment attempt as the client saw it: HTTP status, payment id if paid."""

    status: int
    payment_id: str | None
    replayed: bool
    body: dict[str, Any]
    started: float
    seconds: float


async def pay(
    client: httpx.AsyncClient,
    edge: str,
    token: str,
    number: int,
    amount: str | None = None,
    key: str | None = None,
) -> Answer:
    """Pay invoice `number` (NGN) over REST or GraphQL; transport errors propagate."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    if edge == "rest":
        body: dict[str, Any] = {"invoice": number, "currency": "NGN"}
        if amount is not None:
            body["partPaymentFromWalletBalance"] = {
                "currency": "NGN",
                "chargeTotalCurrent": int(amount),  # whole amounts here: an exact JSON number
            }
        if key is not None:
            headers["Idempotency-Key"] = key
        response = await client.post(REST_PAY, json=body, headers=headers)
        data: dict[str, Any] = response.json()
        paid = response.status_code == 200
        return Answer(
            response.status_code,
            data.get("paymentId") if paid else None,
            response.headers.get("idempotent-replayed") == "true",
            data,
            started,
            time.monotonic() - started,
        )
    request: dict[str, Any] = {"invoiceNumber": number, "currency": "NGN"}
    if amount is not None:
        request["amount"] = amount
    if key is not None:
        request["idempotencyKey"] = key
    response = await client.post(
        "/graphql", json={"query": PAY, "variables": {"input": request}}, headers=headers
    )
    data = response.json()
    answer = (data.get("data") or {}).get("payInvoice") or {}
    paid = answer.get("__typename") == "PayInvoiceSuccess"
    return Answer(
        response.status_code,
        answer["payment"]["id"] if paid else None,
        bool(answer.get("replayed")),
        data,
        started,
        time.monotonic() - started,
    )


def assert_unavailable(answer: Answer, edge: str) -> None:
    """The clear 503: REST's message body, or GraphQL's coded error with nothing answered."""
    assert answer.status == 503, answer
    if edge == "rest":
        assert answer.body["message"] == SERVICE_UNAVAILABLE, answer
    else:
        assert answer.body["data"] is None or answer.body["data"]["payInvoice"] is None
        [error] = answer.body["errors"]
        assert error["message"] == SERVICE_UNAVAILABLE, answer
        assert error["extensions"]["code"] == SERVICE_UNAVAILABLE_CODE, answer


def pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def wallet_locked(url: str, customer_id: str, currency: str) -> AsyncIterator[None]:
    """Hold the wallet's row lock from another connection, so a payment waits on it."""
    connection = await asyncpg.connect(pg_dsn(url))
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT id FROM wallets WHERE customer_id = $1 AND currency = $2 FOR UPDATE",
                customer_id,
                currency,
            )
            yield
    finally:
        await connection.close()


async def terminate_lock_waiter(url: str) -> int:
    """Find the server connection waiting on a row lock in this database and kill it."""
    connection = await asyncpg.connect(pg_dsn(url))
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT_SECONDS):
            while True:
                pid = await connection.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() LIMIT 1"
                )
                if pid is not None:
                    assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
                    return int(pid)
                await asyncio.sleep(0.02)
    finally:
        await connection.close()


@POSTGRESQL_ONLY
@pytest.mark.parametrize("edge", ["rest", "graphql"])
async def test_a_connection_killed_mid_payment_is_a_503_and_the_next_request_pays(
    db: Database, edge: str, tmp_path: Path
) -> None:
    # given Ada's invoice of 15000 NGN, and a served app
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    before = await snapshot(db)
    async with (
        live_server(db.url, log_path=tmp_path / "server.log") as server,
        server.client(timeout=CLIENT_TIMEOUT_SECONDS) as client,
    ):
        # when her payment's database connection is killed while it waits for her wallet
        async with wallet_locked(db.url, world.ada, "NGN"):
            attempt = asyncio.create_task(pay(client, edge, world.ada_token, 100123, "5000"))
            await terminate_lock_waiter(db.url)
        answer = await attempt
        # then she is told the service is unavailable, to retry, and nothing was written
        assert_unavailable(answer, edge)
        assert await snapshot(db) == before
        # and the same server pays her next request: its pool replaced the dead connection
        again = await pay(client, edge, world.ada_token, 100123, "5000")
        assert again.status == 200 and again.payment_id is not None, again
    assert "service unavailable" in server.log()
    books = await wallet_books(db, world.ada, "NGN")
    assert books.balance == books.ledger_sum == 4_500_000
    report(f"connection killed mid-payment ({edge})", "503, nothing written; next request paid")


async def in_flight_then_kill(
    server: LiveServer, attempts: list[asyncio.Task[Answer]], answered_before_kill: int
) -> None:
    """SIGKILL the server once `answered_before_kill` of the attempts have their answer."""
    pending = set(attempts)
    async with asyncio.timeout(CLIENT_TIMEOUT_SECONDS * 3):
        while len(attempts) - len(pending) < answered_before_kill:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    server.kill()
    await server.wait_dead()


async def test_a_server_killed_under_load_loses_no_payment_and_keys_finish_the_work(
    db: Database, tmp_path: Path
) -> None:
    # given 60 invoices of 10.00 NGN for Ada (wallet 50000.00), each paid with its own key
    world = await make_world(db)
    numbers = list(range(7000, 7060))
    for number in numbers:
        await invoice(db, number, world.ada, "10")

    def attempt(client: httpx.AsyncClient, number: int) -> asyncio.Task[Answer]:
        edge = "rest" if number % 2 else "graphql"
        return asyncio.create_task(pay(client, edge, world.ada_token, number, key=f"k{number}"))

    async with live_server(db.url, log_path=tmp_path / "server.log") as server:
        async with server.client(timeout=CLIENT_TIMEOUT_SECONDS) as client:
            # when all 60 are sent at once and the server is SIGKILLed after 15 answers
            attempts = [attempt(client, number) for number in numbers]
            await in_flight_then_kill(server, attempts, answered_before_kill=15)
            outcomes = await asyncio.gather(*attempts, return_exceptions=True)
        acknowledged = {o.payment_id for o in outcomes if isinstance(o, Answer) and o.payment_id}
        lost = sum(isinstance(o, httpx.TransportError) for o in outcomes)
        assert all(isinstance(o, Answer | httpx.TransportError) for o in outcomes), outcomes
        # (a statement the dead server sent may still be running in its backend, and commit)
        await orphans_finished(db)

        # then every payment acknowledged is stored, and each stored payment is whole
        committed = await stored_payments(db)
        assert acknowledged <= set(committed)
        await assert_each_invoice_paid_at_most_once(db, numbers)
        books = await wallet_books(db, world.ada, "NGN")
        assert books.balance == books.ledger_sum == 5_000_000 - 1000 * len(committed)

        # and once restarted, sending every request again with its key pays the rest and
        # replays exactly the ones that were committed, answered or not
        await server.start()
        async with server.client(timeout=CLIENT_TIMEOUT_SECONDS) as client:
            retries = await asyncio.gather(*(attempt(client, number) for number in numbers))
    assert {answer.status for answer in retries} == {200}, retries
    assert {a.payment_id for a in retries if a.replayed} == set(committed)
    assert len(await stored_payments(db)) == len(numbers)
    books = await wallet_books(db, world.ada, "NGN")
    assert books.balance == books.ledger_sum == 5_000_000 - 1000 * len(numbers)
    report(
        f"server SIGKILLed under load ({'sqlite' if db.is_sqlite else 'postgresql'})",
        f"60 payments in flight: {len(acknowledged)} answered, {len(committed)} committed,"
        f" {lost} connections cut; after restart {len(committed)} replayed by key,"
        f" {len(numbers) - len(committed)} paid; nothing lost or doubled",
    )


async def assert_each_invoice_paid_at_most_once(db: Database, numbers: list[int]) -> None:
    sql = (
        "SELECT i.number, i.status, i.amount_paid, count(p.id) FROM invoices i"
        " LEFT JOIN payments p ON p.invoice_id = i.id GROUP BY i.id, i.number, i.status,"
        " i.amount_paid"
    )
    async with db.engine.connect() as connection:
        rows = {int(r[0]): r[1:] for r in (await connection.execute(text(sql))).all()}
    for number in numbers:
        status, amount_paid, payments = rows[number]
        assert (status, amount_paid, payments) in {("PAID", 1000, 1), ("UNPAID", 0, 0)}, number


# --- PostgreSQL restarted under load ---


def postgres_cluster(url: str) -> tuple[str, str]:
    """(version, name) of the local cluster serving `url`, for pg_ctlcluster."""
    port = make_url(url).port or 5432
    lsclusters = shutil.which("pg_lsclusters")
    if lsclusters is None or os.geteuid() != 0:
        message = "restarting PostgreSQL needs root and pg_ctlcluster (Debian's postgresql)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    listing = subprocess.run(  # noqa: S603 (a fixed program found by shutil.which)
        [lsclusters, "--no-header"], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if int(cluster_port) == port:
            return version, name
    pytest.fail(f"no local cluster listens on port {port}: {listing}")


async def pg_ctlcluster(cluster: tuple[str, str], action: str, *flags: str) -> None:
    ctl = shutil.which("pg_ctlcluster")
    assert ctl is not None
    process = await asyncio.create_subprocess_exec(
        ctl, "--skip-systemctl-redirect", *cluster, action, *flags
    )
    async with asyncio.timeout(60):
        assert await process.wait() == 0, f"pg_ctlcluster {action} failed"


@POSTGRESQL_ONLY
async def test_postgresql_restarted_under_load_503s_meanwhile_and_recovers_by_itself(
    db: Database, tmp_path: Path
) -> None:
    # given 20 invoices of 1000.00 NGN for Ada, paid 1.00 at a time, each with its own key
    cluster = postgres_cluster(db.url)
    world = await make_world(db)
    numbers = list(range(8000, 8020))
    for number in numbers:
        await invoice(db, number, world.ada, "1000")
    answers: dict[str, tuple[str, int, Answer]] = {}  # key -> (edge, invoice, answer)
    stop = asyncio.Event()

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        edge = "rest" if index % 2 else "graphql"
        sent = 0
        while not stop.is_set():
            key = f"w{index}-{sent}"
            answer = await pay(client, edge, world.ada_token, numbers[index], "1", key)
            answers[key] = (edge, numbers[index], answer)
            sent += 1
            if answer.status != 200:
                await asyncio.sleep(0.05)

    async with (
        live_server(db.url, log_path=tmp_path / "server.log") as server,
        server.client(timeout=CLIENT_TIMEOUT_SECONDS) as client,
    ):
        # when 8 clients pay continuously and PostgreSQL stops for 3 s, then starts again
        workers = [asyncio.create_task(worker(client, index)) for index in range(8)]
        try:
            await asyncio.sleep(2)
            await pg_ctlcluster(cluster, "stop", "-m", "fast")
            await asyncio.sleep(3)
        finally:
            await pg_ctlcluster(cluster, "start")
        up_at = time.monotonic()
        await asyncio.sleep(4)
        stop.set()
        await asyncio.gather(*workers)

        # then every answer was a payment or the clear 503, and none took near the timeout
        statuses = Counter(answer.status for _, _, answer in answers.values())
        assert set(statuses) <= {200, 503}, statuses
        refused = [(key, e, n, a) for key, (e, n, a) in answers.items() if a.status == 503]
        for _, edge, _, answer in refused:
            assert_unavailable(answer, edge)
        assert refused, "the outage was not seen"
        slowest = max(answer.seconds for _, _, answer in answers.values())
        assert slowest < CLIENT_TIMEOUT_SECONDS
        # and the same server pays again without a restart: its pool reconnected
        assert any(a.status == 200 and a.started > up_at for _, _, a in answers.values())

        # and retrying each refused request with its key pays it once (a replay: its
        # commit was done when the connection broke, before the answer was known)
        replays = 0
        for key, edge, number, _ in refused:
            retry = await pay(client, edge, world.ada_token, number, "1", key)
            assert retry.status == 200, retry
            replays += retry.replayed
    paid = await stored_payments(db)
    assert len(paid) == len(answers)
    books = await wallet_books(db, world.ada, "NGN")
    assert books.balance == books.ledger_sum == 5_000_000 - 100 * len(answers)
    report(
        "PostgreSQL stopped 3 s under load (8 clients)",
        f"{statuses[200]} paid, {statuses[503]} answered 503 (slowest answer"
        f" {slowest:.2f} s), recovered without a restart; the 503s retried by key"
        f" ({replays} replays): {len(paid)} payments, none lost or doubled",
    )


# --- the rate-limit store unreachable ---


@pytest.mark.parametrize("edge", ["rest", "graphql"])
async def test_an_unreachable_rate_limit_store_is_a_503_and_pays_nothing(
    db: Database, edge: str
) -> None:
    # given limits kept in a Redis that does not answer (nothing listens on port 1)
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    before = await snapshot(db)
    async with client_for(db, rate_limit_storage_url="redis://127.0.0.1:1/0") as client:
        # when Ada pays
        answer = await pay(client, edge, world.ada_token, 100123, "5000")
    # then the payment is refused as unavailable (limits fail closed) and nothing is written
    assert_unavailable(answer, edge)
    assert await snapshot(db) == before
