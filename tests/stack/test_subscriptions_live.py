"""Subscriptions across real `invoicepay serve` processes: on PostgreSQL two instances on
one database (subscribe on B, pay on A: LISTEN/NOTIFY carries the event), surviving the
loss of the LISTEN connection; on SQLite one instance."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.billing import admin
from app.db.engine import Database
from app.events.hub import LISTENER_NAME
from tests.support import (
    DEMO_CLONE,
    INVOICE_UPDATED,
    PAY,
    PAYMENTS,
    WALLET_UPDATED,
    Served,
    amount,
    gql,
    invoice,
    make_world,
    rest_pay,
)
from tests.support.figures import report
from tests.support.live import LiveServer, live_server

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

LATENCY_PAYMENTS = 100


def served(server: LiveServer) -> Served:
    return Served(server.url)


@asynccontextmanager
async def two_instances(db: Database) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    async with live_server(db.url) as a, live_server(db.url) as b:
        yield a, b


async def listeners(db: Database) -> int:
    async with db.engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": LISTENER_NAME},
        )
        return int(found.scalar_one())


# Several instances share events through PostgreSQL only.
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@POSTGRESQL_ONLY
async def test_a_payment_on_one_instance_reaches_subscribers_of_another(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with (
        two_instances(db) as (a, b),
        served(b).socket(world.ada_token) as ada,
        served(b).socket(world.admin_token) as operator,
    ):
        # given Ada and her tenant's admin subscribed on instance B
        await ada.subscribe("i", INVOICE_UPDATED, {"number": 100123})
        await ada.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
        await operator.subscribe("p", PAYMENTS)
        await operator.subscribe("probe", WALLET_UPDATED, {"currency": "NGN"})
        for ws, id in ((ada, "i"), (ada, "w"), (operator, "probe")):
            await ws.next(id)
        async with served(a).http() as client:
            # when she pays 5000 on instance A through REST
            body = {"invoice": 100123, "currency": "NGN"}
            body["partPaymentFromWalletBalance"] = {"chargeTotalCurrent": 5000}
            response = await rest_pay(client, body, world.ada_token)
            assert response.status_code == 200, response.text
            # then B delivers her invoice, her wallet and the admin's payment
            invoice_now = (await ada.next("i"))["invoiceUpdated"]
            assert (invoice_now["status"], invoice_now["balanceDue"]) == (
                "PARTIALLY_PAID",
                amount("10000.00"),
            )
            assert (await ada.next("w"))["walletUpdated"]["balance"] == amount("45000.00")
            payment = (await operator.next("p"))["payments"]
            assert payment["id"] == response.json()["paymentId"]
            # when she pays the rest on A through GraphQL
            paid = await gql(
                client,
                PAY,
                {"input": {"invoiceNumber": 100123, "currency": "NGN"}},
                world.ada_token,
            )
            assert paid["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess"
        # then B shows it PAID, once
        assert (await ada.next("i"))["invoiceUpdated"]["status"] == "PAID"
        assert (await ada.next("w"))["walletUpdated"]["balance"] == amount("35000.00")
        assert (await operator.next("p"))["payments"]["invoice"]["status"] == "PAID"
        await ada.silent()


@POSTGRESQL_ONLY
async def test_event_latency_across_instances(db: Database) -> None:
    world = await make_world(db)
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "NGN", Decimal(1_000_000))
    await invoice(db, 5, world.ada, "1000000")
    after_response: list[float] = []
    after_request: list[float] = []
    async with two_instances(db) as (a, b), served(b).socket(world.ada_token) as ws:
        await ws.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
        balance = Decimal((await ws.next("w"))["walletUpdated"]["balance"]["amount"])
        async with served(a).http() as client:
            body = {"invoice": 5, "currency": "NGN"}
            body["partPaymentFromWalletBalance"] = {"chargeTotalCurrent": 1}
            for _ in range(LATENCY_PAYMENTS):
                # when A takes a payment of 1 NGN
                started = time.perf_counter()
                response = await rest_pay(client, body, world.ada_token)
                answered = time.perf_counter()
                assert response.status_code == 200, response.text
                # then B delivers the balance it left
                balance -= 1
                shown = (await ws.next("w"))["walletUpdated"]["balance"]["amount"]
                arrived = time.perf_counter()
                assert Decimal(shown) == balance
                after_request.append(arrived - started)
                after_response.append(arrived - answered)

    def figures(values: list[float]) -> str:
        cuts = statistics.quantiles(values, n=100)
        return f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"

    report(
        f"subscription latency A→B over {LATENCY_PAYMENTS} REST payments, request→event",
        figures(after_request),
    )
    report("subscription latency A→B, response→event", figures(after_response))


@POSTGRESQL_ONLY
async def test_subscribers_survive_the_loss_of_the_listen_connection(db: Database) -> None:
    world = await make_world(db)
    async with two_instances(db) as (_, b), served(b).socket(world.ada_token) as ws:
        await ws.subscribe("w", WALLET_UPDATED, {"currency": "USD"})
        assert (await ws.next("w"))["walletUpdated"]["balance"] == amount("500.00", "USD")
        assert await listeners(db) == 2
        # when every LISTEN connection is cut (as a database restart would), and a change
        # commits at once, before they are back
        async with db.engine.connect() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": LISTENER_NAME},
            )
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "USD", Decimal(1))
        # then B shows it anyway (it re-reads every subscription once listening again)
        assert (await ws.next("w"))["walletUpdated"]["balance"] == amount("501.00", "USD")
        # and both instances listen again; the next change arrives as usual
        for _ in range(100):  # ten seconds at most
            if await listeners(db) == 2:
                break
            await asyncio.sleep(0.1)
        assert await listeners(db) == 2
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "USD", Decimal(2))
        assert (await ws.next("w"))["walletUpdated"]["balance"] == amount("503.00", "USD")
        await ws.silent()
    assert "event listener: " in b.log()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_one_instance_on_sqlite_delivers_its_own_payments(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with live_server(db.url) as server, served(server).socket(world.ada_token) as ws:
        await ws.subscribe("i", INVOICE_UPDATED, {"number": 100123})
        await ws.next("i")
        async with served(server).http() as client:
            body = {"invoice": 100123, "currency": "NGN"}
            response = await rest_pay(client, body, world.ada_token)
        assert response.status_code == 200, response.text
        assert (await ws.next("i"))["invoiceUpdated"]["status"] == "PAID"
        await ws.silent()
