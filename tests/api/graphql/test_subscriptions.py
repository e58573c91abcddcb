"""Subscriptions over graphql-transport-ws, on both backends: the app served in this
process by uvicorn on a loopback port, a real websocket client, payments through REST,
GraphQL and the service. Events must arrive only after a commit, and only to those who
may see them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from sqlalchemy import text

from app import errors
from app.api.graphql.limits import REFUSED
from app.auth.tokens import issue_token
from app.billing import admin
from app.db.engine import Database
from app.db.models import utcnow
from app.db.uow import UnitOfWork
from app.events import hub as events
from app.events import shapes
from app.events.outbox import record
from app.payments import PayInvoice, pay_invoice
from tests.support import (
    DEMO_CLONE,
    INVOICE_UPDATED,
    OTHER_CLONE,
    PAY,
    PAYMENTS,
    SILENCE_SECONDS,
    WALLET_UPDATED,
    World,
    amount,
    gql,
    invoice,
    make_payment,
    make_world,
    rest_pay,
    serving,
)
from tests.support import (
    test_settings as settings_for,
)
from tests.support.commit_refusal import payments_refused_at_commit

INVOICE_QUERY = "query Invoice($number: Int!) { invoice(number: $number) { number } }"


TOO_DEEP = """
subscription {
  invoiceUpdated(number: 100123) { payments { invoice { customer { wallets { transactions {
    edges { node { payment { invoice { customer { wallets { id } } } } } } } } } } } }
}
"""


@pytest.fixture
async def world(db: Database) -> World:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    return world


async def test_invoice_updated_shows_the_invoice_then_a_graphql_payment(
    db: Database, world: World
) -> None:
    async with serving(db) as served, served.socket(world.ada_token) as ws:
        # given Ada subscribed to her invoice 100123: she sees it as it is now
        await ws.subscribe("1", INVOICE_UPDATED, {"number": 100123})
        first = await ws.next("1")
        assert first["invoiceUpdated"]["status"] == "UNPAID"
        assert first["invoiceUpdated"]["balanceDue"] == amount("15000.00")
        # when she pays 5000 of it through GraphQL
        async with served.http() as client:
            paid = await gql(
                client,
                PAY,
                {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "5000"}},
                world.ada_token,
            )
        assert paid["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess"
        # then exactly one event arrives, with the new status, balance and payment
        assert await ws.next("1") == {
            "invoiceUpdated": {
                "number": 100123,
                "status": "PARTIALLY_PAID",
                "amountPaid": {"amount": "5000.00"},
                "balanceDue": amount("10000.00"),
                "payments": [{"amount": {"amount": "5000.00"}}],
            }
        }
        await ws.silent()


async def test_wallet_updated_shows_the_balance_after_a_rest_payment(
    db: Database, world: World
) -> None:
    async with serving(db) as served, served.socket(world.ada_token) as ws:
        # given Ada subscribed to her NGN wallet (50000)
        await ws.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
        assert (await ws.next("w"))["walletUpdated"]["balance"] == amount("50000.00")
        # when she pays 5000 of invoice 100123 through the REST route
        async with served.http() as client:
            body = {"invoice": 100123, "currency": "NGN", "cloneId": DEMO_CLONE}
            body["partPaymentFromWalletBalance"] = {"chargeTotalCurrent": 5000}
            response = await rest_pay(client, body, world.ada_token)
        assert response.status_code == 200, response.text
        # then the wallet arrives once, at 45000
        assert await ws.next("w") == {
            "walletUpdated": {"currency": "NGN", "balance": amount("45000.00")}
        }
        await ws.silent()


async def test_an_admin_receives_every_payment_of_its_tenant_and_no_other(
    db: Database, world: World
) -> None:
    # given an invoice of the other tenant's customer
    await invoice(db, 7, world.stranger, "100", tenant_id=OTHER_CLONE)
    async with (
        serving(db) as served,
        served.socket(world.admin_token) as ours,
        served.socket(world.other_admin_token) as theirs,
    ):
        # given each admin subscribed to payments (a probe on the same connection,
        # subscribed after it, answers once the payments stream is in place)
        for ws, number in ((ours, 100123), (theirs, 7)):
            await ws.subscribe("p", PAYMENTS)
            await ws.subscribe("probe", INVOICE_UPDATED, {"number": number})
            await ws.next("probe")
        # when Ada pays 2500, then the stranger pays 40 in the other tenant
        ada_payment = await make_payment(db, world.ada, 100123, "2500")
        stranger_payment = await make_payment(db, world.stranger, 7, "40", tenant_id=OTHER_CLONE)
        # then each admin gets its own tenant's payment, with its invoice and wallet
        assert (await ours.next("p"))["payments"] == {
            "id": ada_payment,
            "amount": amount("2500.00"),
            "invoice": {"number": 100123, "status": "PARTIALLY_PAID"},
            "wallet": {"balance": {"amount": "47500.00"}},
        }
        assert (await theirs.next("p"))["payments"]["id"] == stranger_payment
        # and nothing else (the probes saw their invoices change, which is all)
        assert (await ours.next("probe"))["invoiceUpdated"]["status"] == "PARTIALLY_PAID"
        assert (await theirs.next("probe"))["invoiceUpdated"]["status"] == "PARTIALLY_PAID"
        await ours.silent()
        await theirs.silent()


async def test_a_failed_or_replayed_payment_publishes_nothing(db: Database, world: World) -> None:
    # given Bola (1000 NGN) owes invoice 200 of 5000, and subscribed to it and to his wallet
    await invoice(db, 200, world.bola, "5000")
    async with serving(db) as served, served.socket(world.bola_token) as ws:
        await ws.subscribe("i", INVOICE_UPDATED, {"number": 200})
        await ws.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
        assert {"i", "w"} == {(await ws.receive())["id"], (await ws.receive())["id"]}
        command = PayInvoice(DEMO_CLONE, world.bola, 200, "NGN", idempotency_key="k-1")
        # when he tries to pay it all: InsufficientFunds
        with pytest.raises(errors.InsufficientFunds):
            await pay_invoice(db, command)
        # then nothing is published
        await ws.silent()
        # when he pays 600 with a new key, then repeats that request (a replay)
        paid = PayInvoice(
            DEMO_CLONE, world.bola, 200, "NGN", amount=Decimal(600), idempotency_key="k-2"
        )
        await pay_invoice(db, paid)
        changes = {(await ws.receive())["id"], (await ws.receive())["id"]}
        replay = await pay_invoice(db, paid)
        # then the payment published its two changes, and the replay nothing
        assert changes == {"i", "w"}
        assert replay.replayed
        await ws.silent()


@asynccontextmanager
async def listening(db: Database) -> AsyncIterator[events.EventHub]:
    """An event hub of our own on `db`, as an app instance has one."""
    hub = events.EventHub(db, gap_grace=1.0)  # a rolled-back seq is passed over sooner
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def received(subscriber: events.Subscriber, count: int) -> list[events.Change]:
    """The next `count` changes (a RESYNC, sent when a rolled-back seq is passed over,
    is no change)."""
    got: list[events.Change] = []
    while len(got) < count:
        change = await asyncio.wait_for(subscriber.next(), 10)
        if change is not events.RESYNC:
            got.append(change)
    return got


async def nothing_received(subscriber: events.Subscriber) -> None:
    await asyncio.sleep(SILENCE_SECONDS)
    assert subscriber.queue.empty(), subscriber.queue.get_nowait()


async def test_events_of_a_transaction_that_rolls_back_are_never_delivered(
    db: Database, world: World
) -> None:
    async with UnitOfWork(db) as uow:
        wallet = await uow.wallets.get(world.ada, "NGN")
    assert wallet is not None
    data = shapes.wallet_topped_up(wallet, 1)
    async with listening(db) as hub:
        subscriber = hub.subscribe("wallet", DEMO_CLONE)
        # when a transaction records a change and rolls back
        async with UnitOfWork(db, write=True) as uow:
            connection = await uow.session.connection()
            credit = text("UPDATE wallets SET balance = balance + 1 WHERE id = :id")
            await connection.execute(credit, {"id": wallet.id})
            await record(uow.session, DEMO_CLONE, "wallet.topped_up", data, utcnow())
        # then nothing is delivered
        await nothing_received(subscriber)
        # when the same transaction commits, the change is delivered once
        async with UnitOfWork(db, write=True) as uow:
            await record(uow.session, DEMO_CLONE, "wallet.topped_up", data, utcnow())
            await uow.commit()
        assert await received(subscriber, 1) == [
            events.Change("wallet", DEMO_CLONE, world.ada, wallet.id)
        ]
        await nothing_received(subscriber)


async def test_only_a_successful_payment_publishes_its_payment_invoice_and_wallet(
    db: Database, world: World
) -> None:
    await invoice(db, 200, world.bola, "5000")
    failing = PayInvoice(DEMO_CLONE, world.bola, 200, "NGN", idempotency_key="k")
    paying = PayInvoice(DEMO_CLONE, world.bola, 200, "NGN", amount=Decimal(600))
    async with listening(db) as hub:
        changes = [hub.subscribe(kind, DEMO_CLONE) for kind in ("payment", "invoice", "wallet")]
        # when Bola (1000 NGN) tries to pay invoice 200 in full, with a key: InsufficientFunds
        # (whose outcome the key keeps: a commit, but no change to publish)
        with pytest.raises(errors.InsufficientFunds):
            await pay_invoice(db, failing)
        for subscriber in changes:
            await nothing_received(subscriber)
        # when he pays 600 of it
        receipt = await pay_invoice(db, paying)
        # then each of the three rows changed is published once, naming Bola
        got = [await received(subscriber, 1) for subscriber in changes]
        assert [[(e.kind, e.row_id, e.customer_id) for e in one] for one in got] == [
            [("payment", receipt.payment_id, world.bola)],
            [("invoice", receipt.invoice_id, world.bola)],
            [("wallet", receipt.wallet_id, world.bola)],
        ]
        for subscriber in changes:
            await nothing_received(subscriber)


# A failing COMMIT is made with a deferred constraint trigger: PostgreSQL only.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_payment_whose_commit_fails_publishes_nothing(db: Database, world: World) -> None:
    # given a deferred trigger that refuses, at COMMIT, any new payment
    async with payments_refused_at_commit(db), listening(db) as hub:
        subscriber = hub.subscribe("wallet", DEMO_CLONE)
        # when a payment fails at its commit
        with pytest.raises(Exception, match="refused at commit"):
            await make_payment(db, world.ada, 100123, "5000")
        # then its events were never delivered
        await nothing_received(subscriber)


async def test_admin_changes_reach_the_customer(db: Database, world: World) -> None:
    await invoice(db, 300, world.ada, "100")
    async with serving(db) as served, served.socket(world.ada_token) as ws:
        await ws.subscribe("i", INVOICE_UPDATED, {"number": 300})
        await ws.subscribe("w", WALLET_UPDATED, {"currency": "USD"})
        assert {"i", "w"} == {(await ws.receive())["id"], (await ws.receive())["id"]}
        # when an admin voids invoice 300, then tops up her USD wallet by 20
        await admin.void_invoice(db, DEMO_CLONE, 300)
        assert (await ws.next("i"))["invoiceUpdated"]["status"] == "VOID"
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "USD", Decimal(20))
        assert (await ws.next("w"))["walletUpdated"]["balance"] == amount("520.00", "USD")
        await ws.silent()


async def test_another_customers_invoice_is_answered_like_an_unknown_one(
    db: Database, world: World
) -> None:
    # given Bola's invoice 400, and invoice 7 of the other tenant
    await invoice(db, 400, world.bola, "100")
    await invoice(db, 7, world.stranger, "100", tenant_id=OTHER_CLONE)
    async with serving(db) as served, served.socket(world.ada_token) as ws:
        answers = {}
        for number in (400, 7, 999):
            # when Ada subscribes to it
            await ws.subscribe(str(number), INVOICE_UPDATED, {"number": number})
            # then she gets what the query answers (null), and the stream completes
            answers[number] = (await ws.next(str(number)), await ws.message(str(number)))
            async with served.http() as client:
                query = await gql(client, INVOICE_QUERY, {"number": number}, world.ada_token)
            assert query == {"data": {"invoice": None}}
        assert all(
            answer == ({"invoiceUpdated": None}, {"id": str(n), "type": "complete"})
            for n, answer in answers.items()
        )
        # and Bola's payment on his invoice does not reach her
        await make_payment(db, world.bola, 400, "10")
        await ws.silent()


async def test_a_customer_sees_only_its_own_wallet_change(db: Database, world: World) -> None:
    async with (
        serving(db) as served,
        served.socket(world.ada_token) as ada,
        served.socket(world.bola_token) as bola,
    ):
        for ws in (ada, bola):
            await ws.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
            await ws.next("w")
        # when Bola's NGN wallet is topped up
        await admin.top_up_wallet(db, DEMO_CLONE, world.bola, "NGN", Decimal(5))
        # then Bola sees it, Ada nothing
        assert (await bola.next("w"))["walletUpdated"]["balance"] == amount("1005.00")
        await ada.silent()
        # and a currency she has no wallet in is null, like the query
        await ada.subscribe("eur", WALLET_UPDATED, {"currency": "EUR"})
        assert await ada.next("eur") == {"walletUpdated": None}


async def test_payments_are_for_admins_only(db: Database, world: World) -> None:
    async with serving(db) as served, served.socket(world.ada_token) as ws:
        await ws.subscribe("p", PAYMENTS)
        message = await ws.receive()
    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["FORBIDDEN"]


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
async def test_without_a_valid_token_every_subscription_is_refused(
    db: Database, world: World, token: str | None
) -> None:
    async with serving(db) as served, served.socket(token) as ws:
        for id, query, variables in (
            ("i", INVOICE_UPDATED, {"number": 100123}),
            ("w", WALLET_UPDATED, {"currency": "NGN"}),
            ("p", PAYMENTS, {}),
        ):
            await ws.subscribe(id, query, variables)
            refused = await ws.message(id)
            assert refused["type"] == "error"
            assert [e["extensions"]["code"] for e in refused["payload"]] == ["UNAUTHENTICATED"]


async def test_the_token_may_come_with_the_upgrade_request(db: Database, world: World) -> None:
    async with serving(db) as served, served.socket(None, header_token=world.ada_token) as ws:
        await ws.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
        assert (await ws.next("w"))["walletUpdated"]["balance"] == amount("50000.00")


async def test_a_revoked_session_is_refused_at_subscribe_and_ends_a_stream(
    db: Database, world: World
) -> None:
    session = await admin.create_session(db, DEMO_CLONE, customer_id=world.ada, ttl_seconds=600)
    token = issue_token(settings_for(db.url), session)
    async with (
        serving(db) as served,
        served.socket(token) as ws,
        served.http() as client,
    ):
        await ws.subscribe("w", WALLET_UPDATED, {"currency": "NGN"})
        await ws.next("w")
        # when an admin revokes her session, then her wallet changes
        await admin.revoke_session(db, DEMO_CLONE, session.jti)
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "NGN", Decimal(1))
        # then the stream ends with UNAUTHENTICATED instead of the balance
        ended = await ws.message("w")
        assert ended["type"] == "next"
        assert ended["payload"]["data"] is None
        assert [e["extensions"]["code"] for e in ended["payload"]["errors"]] == ["UNAUTHENTICATED"]
        assert await ws.message("w") == {"id": "w", "type": "complete"}
        # and a new subscription, or a payment, on the same connection is refused
        await ws.subscribe("again", WALLET_UPDATED, {"currency": "NGN"})
        refused = await ws.message("again")
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        await ws.subscribe("pay", PAY, {"input": {"invoiceNumber": 100123, "currency": "NGN"}})
        paid = await ws.message("pay")
        assert paid["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # while HTTP says the same of the token
        query = await gql(client, INVOICE_QUERY, {"number": 100123}, token)
        assert query["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_limits_and_the_payment_gate_hold_over_a_websocket(
    db: Database, world: World
) -> None:
    async with serving(db, rate_limit="1/minute") as served, served.socket(world.ada_token) as ws:
        # a document too deep is refused before anything runs
        await ws.subscribe("deep", TOO_DEEP)
        refused = await ws.message("deep")
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == REFUSED
        # payments over the websocket count against the rate limit like over HTTP
        pay = {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "1"}}
        await ws.subscribe("pay-1", PAY, pay)
        assert (await ws.next("pay-1"))["payInvoice"]["__typename"] == "PayInvoiceSuccess"
        assert (await ws.message("pay-1"))["type"] == "complete"
        await ws.subscribe("pay-2", PAY, pay)
        limited = await ws.message("pay-2")
        assert limited["payload"]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_invoice_updates_survive_the_loss_of_the_listen_connection(
    db: Database, world: World
) -> None:
    terminate = text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = :name"
    )
    async with serving(db) as served, served.socket(world.ada_token) as ws:
        await ws.subscribe("i", INVOICE_UPDATED, {"number": 100123})
        assert (await ws.next("i"))["invoiceUpdated"]["status"] == "UNPAID"
        # when the instance's LISTEN connection is cut, and a payment commits at once
        async with db.engine.connect() as connection:
            await connection.execute(terminate, {"name": events.LISTENER_NAME})
        await make_payment(db, world.ada, 100123, "5000")
        # then the update arrives anyway (the reader reads the outbox, woken or not)
        update = (await ws.next("i"))["invoiceUpdated"]
        assert (update["status"], update["amountPaid"]) == ("PARTIALLY_PAID", {"amount": "5000.00"})
        # and once listening again, the next one too
        await make_payment(db, world.ada, 100123, "10000")
        assert (await ws.next("i"))["invoiceUpdated"]["status"] == "PAID"
        await ws.silent()


async def test_another_tenants_event_id_is_answered_like_an_unknown_one(
    db: Database, world: World
) -> None:
    theirs = "SELECT id FROM events WHERE tenant_id = :t ORDER BY seq LIMIT 1"
    async with db.engine.connect() as connection:
        their_event = (await connection.execute(text(theirs), {"t": OTHER_CLONE})).scalar_one()
    subscription = "subscription E($after: String) { events(after: $after) { id } }"
    answers = []
    async with serving(db) as served, served.socket(world.admin_token) as ws:
        for id_, after in (("theirs", their_event), ("unknown", f"evt_{'0' * 24}")):
            await ws.subscribe(id_, subscription, {"after": after})
            message = await ws.message(id_)
            answers.append((message["type"], [e["message"] for e in message["payload"]]))
    assert answers[0] == answers[1] == ("error", ["Invalid cursor"])
