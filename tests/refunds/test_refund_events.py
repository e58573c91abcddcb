"""A refund tells subscribers, once it has committed: its invoice, its wallet and the
refunded payment (the admins' `payments` stream); a refused refund tells nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import select

from app import errors
from app.db.engine import Database
from app.db.models import Event
from app.db.uow import UnitOfWork
from app.events.hub import Change, EventHub, Kind, Subscriber
from tests.support import DEMO_CLONE
from tests.support.refunds import given_books, refund


async def next_events(subscribers: dict[Kind, Subscriber], seconds: float) -> dict[Kind, Change]:
    got: dict[Kind, Change] = {}
    for kind, subscriber in subscribers.items():
        got[kind] = await asyncio.wait_for(subscriber.next(), seconds)
    return got


async def test_a_refund_publishes_its_invoice_wallet_and_payment(db: Database) -> None:
    # given a payment and subscribers to every kind of change in its tenant
    books = await given_books(db)
    hub = EventHub(db)
    await hub.start()
    try:
        kinds: tuple[Kind, ...] = ("invoice", "wallet", "payment")
        subscribers = {kind: hub.subscribe(kind, DEMO_CLONE) for kind in kinds}
        # when a refused refund, then a refund, commit
        with pytest.raises(errors.RefundExceedsRefundable):
            await refund(db, books.ngn_payment, "9000")
        result = await refund(db, books.ngn_payment, "10")
        got = await next_events(subscribers, 10)
    finally:
        await hub.stop()
    # then each subscriber hears of its row, and only of the refund's
    assert result.rows is not None
    assert got["payment"].row_id == books.ngn_payment
    assert got["invoice"].row_id == result.invoice_id
    assert got["wallet"].row_id == result.wallet_id
    assert all(subscriber.queue.empty() for subscriber in subscribers.values())


async def test_a_refund_writes_one_refund_succeeded_event_and_a_refusal_none(
    db: Database,
) -> None:
    # given a payment
    books = await given_books(db)
    # when a refused refund, then a refund of 10.00, commit
    with pytest.raises(errors.RefundExceedsRefundable):
        await refund(db, books.ngn_payment, "9000")
    result = await refund(db, books.ngn_payment, "10")
    # then the outbox holds exactly one refund.succeeded, with the rows as the refund left them
    async with UnitOfWork(db) as uow:
        rows = (await uow.session.exec(select(Event).where(Event.type == "refund.succeeded"))).all()
    assert len(rows) == 1 and rows[0].tenant_id == DEMO_CLONE
    data = json.loads(rows[0].data)
    assert data["refund"]["id"] == result.refund_id
    assert data["refund"]["amount"] == {"amount": "10.00", "currency": "NGN"}
    assert data["payment"]["id"] == books.ngn_payment
    assert data["invoice"]["id"] == result.invoice_id
    assert data["wallet"]["id"] == result.wallet_id
