"""Dispatchers sharing the work: a claimed delivery is nobody else's until its lease runs
out (a dead instance's work is then taken up), and two dispatchers on one PostgreSQL
database deliver every event exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, text

from app.db.engine import Database
from app.db.models import UTCDateTime, utcnow
from app.db.uow import UnitOfWork
from app.webhooks.dispatcher import LEASE
from tests.support import make_world
from tests.support.figures import report
from tests.support.receiver import eventually, receiver
from tests.support.webhooks import dispatcher, given_endpoint, given_events, rows


async def test_a_claim_is_kept_until_its_lease_runs_out(db: Database) -> None:
    # given one due delivery, claimed by an instance that then died
    await make_world(db)
    async with receiver() as hook:
        await given_endpoint(db, hook.url)
        [event] = await given_events(db)
        dead, alive = dispatcher(db), dispatcher(db)
        assert len(await dead.claim(8)) == 1
        # when another instance looks while the lease holds, it finds nothing
        assert await alive.claim(8) == []
        assert timedelta(seconds=14) > LEASE  # taken up within 15 s, with a 1 s poll
        # and once the lease has run out, it delivers the event
        expire = text("UPDATE webhook_deliveries SET claimed_until = :past").bindparams(
            bindparam("past", type_=UTCDateTime)
        )
        async with UnitOfWork(db, write=True) as uow:
            connection = await uow.session.connection()
            await connection.execute(expire, {"past": utcnow() - timedelta(seconds=1)})
            await uow.commit()
        assert await alive.run_once() == 1
        await alive.aclose()
        await dead.aclose()
        assert hook.ids() == [event.id]


@pytest.mark.slow
async def test_two_dispatchers_on_postgresql_deliver_200_events_once_each(
    postgres_db: Database,
) -> None:
    # given 200 due events for one endpoint, and two dispatchers on their own pools
    db = postgres_db
    await make_world(db)
    async with receiver() as hook:
        await given_endpoint(db, hook.url)
        events = await given_events(db, 200)
        other = Database(db.url, pool_size=5)
        first, second = dispatcher(db), dispatcher(other)
        started = asyncio.get_running_loop().time()
        await first.start()
        await second.start()
        try:
            # when both run until every event has arrived
            await eventually(lambda: len(hook.requests) >= 200, 60)
            elapsed = asyncio.get_running_loop().time() - started
            await asyncio.sleep(0.3)  # time for a duplicate to show up, were there one
        finally:
            await first.stop()
            await second.stop()
            await other.dispose()
        # then each event arrived once
        ids = hook.ids()
        assert len(ids) == 200 and set(ids) == {event.id for event in events}
    assert await rows(db, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status") == [
        ("SUCCEEDED", 200)
    ]
    assert await rows(db, "SELECT count(*) FROM webhook_attempts") == [(200,)]
    report("webhooks: 200 events, two dispatchers on PostgreSQL", f"{elapsed:.2f} s")
