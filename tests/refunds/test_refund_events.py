"""A refund tells subscribers, once it has committed: its invoice, its wallet and the
refunded payment (the admins' `payments` stream); a refused refund tells nothing."""

from __future__ import annotations

import asyncio

import pytest

from app import errors
from app.db.engine import Database
from app.events.hub import Event, EventHub, Kind, Subscriber
from tests.support import DEMO_CLONE
from tests.support.refunds import given_books, refund


async def next_events(subscribers: dict[Kind, Subscriber], seconds: float) -> dict[Kind, Event]:
    got: dict[Kind, Event] = {}
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
