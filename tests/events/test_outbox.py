"""The outbox's `record`: the event row in the change's transaction, one delivery per
enabled endpoint that takes its type, nothing when the transaction rolls back."""

from __future__ import annotations

from sqlmodel import select

from app.db.engine import Database
from app.db.models import WebhookDelivery, utcnow
from app.db.uow import UnitOfWork
from app.events.outbox import record
from tests.support import DEMO_CLONE, make_world
from tests.support.events import given_endpoint, rows


async def test_an_event_and_its_deliveries_commit_with_the_change(db: Database) -> None:
    await make_world(db)
    wanted = await given_endpoint(db, DEMO_CLONE, ["payment.succeeded"], enabled=True)
    await given_endpoint(db, DEMO_CLONE, ["payment.succeeded", "invoice.created"], enabled=False)
    await given_endpoint(db, DEMO_CLONE, ["invoice.created"], enabled=True)
    async with UnitOfWork(db, write=True) as uow:
        first = await record(uow.session, DEMO_CLONE, "payment.succeeded", {"a": "1.00"}, utcnow())
        second = await record(uow.session, DEMO_CLONE, "payment.succeeded", {"b": 2}, utcnow())
        await uow.commit()
    assert first.seq is not None and second.seq is not None and first.seq < second.seq
    assert await rows(db, "SELECT id, type, data FROM events WHERE seq >= :seq", seq=first.seq) == [
        (first.id, "payment.succeeded", '{"a":"1.00"}'),
        (second.id, "payment.succeeded", '{"b":2}'),
    ]
    assert await rows(
        db,
        "SELECT endpoint_id, event_seq, status, attempts FROM webhook_deliveries"
        " ORDER BY event_seq",
    ) == [(wanted, first.seq, "PENDING", 0), (wanted, second.seq, "PENDING", 0)]


async def test_a_change_that_rolls_back_leaves_no_event_and_no_delivery(db: Database) -> None:
    await make_world(db)
    await given_endpoint(db, DEMO_CLONE, ["invoice.created"], enabled=True)
    before = await rows(db, "SELECT count(*) FROM events")
    async with UnitOfWork(db, write=True) as uow:
        await record(uow.session, DEMO_CLONE, "invoice.created", {}, utcnow())
    assert await rows(db, "SELECT count(*) FROM events") == before
    assert await rows(db, "SELECT count(*) FROM webhook_deliveries") == [(0,)]


async def test_a_delivery_is_due_at_once_by_the_clock_the_orm_keeps(db: Database) -> None:
    await make_world(db)
    await given_endpoint(db, DEMO_CLONE, ["invoice.created"], enabled=True)
    async with UnitOfWork(db, write=True) as uow:
        await record(uow.session, DEMO_CLONE, "invoice.created", {}, utcnow())
        await uow.commit()
    async with UnitOfWork(db) as uow:
        due = (await uow.session.exec(select(WebhookDelivery))).all()
    assert len(due) == 1 and due[0].next_attempt_at is not None
    assert due[0].next_attempt_at <= utcnow()
