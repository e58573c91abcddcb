"""Every change writes its event in its own transaction (the outbox), on both backends:
a payment exactly one `payment.succeeded` whose data is the rows as it left them (on
PostgreSQL filled in by the payment's own statement), every admin change its own event,
and a refused or rolled-back change none."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from app import errors
from app.billing import admin
from app.db.engine import Database
from app.db.models import Customer, Invoice, Payment, Wallet
from app.db.uow import UnitOfWork
from app.events import shapes
from app.payments import PayInvoice, pay_invoice
from tests.support import DEMO_CLONE, World, invoice, make_payment, make_world
from tests.support.commit_refusal import payments_refused_at_commit
from tests.support.events import given_endpoint, rows


async def events_after(db: Database, seq: int) -> list[tuple[str, str, dict[str, Any]]]:
    found = await rows(
        db, "SELECT tenant_id, type, data FROM events WHERE seq > :seq ORDER BY seq", seq=seq
    )
    return [(str(tenant), str(type_), json.loads(str(data))) for tenant, type_, data in found]


async def newest(db: Database) -> int:
    [(seq,)] = await rows(db, "SELECT coalesce(max(seq), 0) FROM events")
    assert isinstance(seq, int)
    return seq


async def stored(db: Database, model: type[Any], id_: str) -> Any:
    async with UnitOfWork(db) as uow:
        return await uow.session.get(model, id_)


@pytest.fixture
async def world(db: Database) -> World:
    return await make_world(db)


async def test_a_payment_writes_one_event_with_the_rows_as_it_left_them(
    db: Database, world: World
) -> None:
    await invoice(db, 100, world.ada, "300.50")
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "JPY", Decimal(5000))
    await invoice(db, 101, world.ada, "1200", currency="JPY")
    for number, amount, currency in (
        (100, "100.25", "NGN"),
        (100, None, "NGN"),
        (101, None, "JPY"),
    ):
        before = await newest(db)
        receipt = await pay_invoice(
            db,
            PayInvoice(
                DEMO_CLONE,
                world.ada,
                number,
                currency,
                amount=None if amount is None else Decimal(amount),
                reference="r-1",
                idempotency_key=f"k-{number}-{amount}",
            ),
        )
        [(tenant, type_, data)] = await events_after(db, before)
        payment = await stored(db, Payment, receipt.payment_id)
        paid = await stored(db, Invoice, receipt.invoice_id)
        wallet = await stored(db, Wallet, receipt.wallet_id)
        assert (tenant, type_) == (DEMO_CLONE, "payment.succeeded")
        assert data == shapes.payment_succeeded(payment, paid, wallet)
        # and it is the answer: what the receipt says, as decimal strings with currencies
        assert data["invoice"]["status"] == receipt.status
        assert data["invoice"]["balanceDue"] == shapes.money(receipt.balance_due, currency)
        assert data["wallet"]["balance"] == shapes.money(receipt.wallet_balance, currency)
    assert data["wallet"]["balance"] == {"amount": "3800", "currency": "JPY"}
    assert data["invoice"]["amountPaid"] == {"amount": "1200", "currency": "JPY"}


async def test_a_payment_fans_out_to_the_endpoints_that_take_its_type(
    db: Database, world: World
) -> None:
    taking = await given_endpoint(db, DEMO_CLONE, ["payment.succeeded"], enabled=True)
    await given_endpoint(db, DEMO_CLONE, ["invoice.voided"], enabled=True)
    await given_endpoint(db, DEMO_CLONE, ["payment.succeeded"], enabled=False)
    await invoice(db, 100, world.ada, "50.00")
    before = await newest(db)
    await make_payment(db, world.ada, 100, "10.00")
    assert await rows(db, "SELECT endpoint_id, status FROM webhook_deliveries") == [
        (taking, "PENDING")
    ]
    [(seq,)] = await rows(db, "SELECT seq FROM events WHERE seq > :seq", seq=before)
    assert await rows(db, "SELECT event_seq FROM webhook_deliveries") == [(seq,)]


async def test_every_admin_change_writes_its_event(db: Database, world: World) -> None:
    before = await newest(db)
    customer = await admin.create_customer(db, DEMO_CLONE, "Cleo", "cleo@example.com")
    wallet = await admin.top_up_wallet(db, DEMO_CLONE, customer.id, "NGN", Decimal("12.30"))
    created = await admin.create_invoice(
        db,
        DEMO_CLONE,
        admin.NewInvoice(number=7, customer_id=customer.id, currency="NGN", total=Decimal(5)),
    )
    await admin.void_invoice(db, DEMO_CLONE, 7)
    voided = await stored(db, Invoice, created.id)
    assert await events_after(db, before) == [
        (
            DEMO_CLONE,
            "customer.created",
            {"customer": shapes.customer(await stored(db, Customer, customer.id))},
        ),
        (
            DEMO_CLONE,
            "wallet.topped_up",
            {
                "wallet": shapes.wallet(await stored(db, Wallet, wallet.id)),
                "amount": {"amount": "12.30", "currency": "NGN"},
            },
        ),
        (
            DEMO_CLONE,
            "invoice.created",
            {"invoice": {**shapes.invoice(voided), "status": "UNPAID"}},
        ),
        (DEMO_CLONE, "invoice.voided", {"invoice": shapes.invoice(voided)}),
    ]
    assert voided.status == "VOID"


async def test_refused_changes_write_no_event(db: Database, world: World) -> None:
    await invoice(db, 100, world.bola, "5000")
    before = await newest(db)
    # a refusal kept under its key commits, but is no change
    with pytest.raises(errors.InsufficientFunds):
        await pay_invoice(db, PayInvoice(DEMO_CLONE, world.bola, 100, "NGN", idempotency_key="k"))
    with pytest.raises(errors.WrongAmount):
        await make_payment(db, world.bola, 100, "6000")
    with pytest.raises(errors.CustomerEmailTaken):
        await admin.create_customer(db, DEMO_CLONE, "Ada again", "ada@example.com")
    with pytest.raises(errors.InvalidInput):
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "NGN", Decimal(10) ** 14)
    with pytest.raises(errors.InvoiceNumberTaken):
        await invoice(db, 100, world.ada, "1")
    await make_payment(db, world.bola, 100, "1")
    [(_tenant, type_, _data)] = await events_after(db, before)
    assert type_ == "payment.succeeded"
    with pytest.raises(errors.InvoiceHasPayments):
        await admin.void_invoice(db, DEMO_CLONE, 100)
    assert len(await events_after(db, before)) == 1


# A failing COMMIT is made with a deferred constraint trigger: PostgreSQL only.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_payment_whose_commit_fails_writes_no_event(db: Database, world: World) -> None:
    await invoice(db, 100, world.ada, "50.00")
    before = await newest(db)
    async with payments_refused_at_commit(db):
        with pytest.raises(Exception, match="refused at commit"):
            await make_payment(db, world.ada, 100, "10")
    assert await events_after(db, before) == []
