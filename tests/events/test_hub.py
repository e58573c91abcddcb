"""The outbox reader (app/events/hub.py): events handed out in seq order, a gap waited
for while its transaction is still committing, a rolled-back seq skipped after the grace
period, and commits of another process (no wake-up) found by the poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from app.db.engine import Database
from app.db.models import utcnow
from app.db.uow import UnitOfWork
from app.events import hub as events
from app.events.outbox import record
from tests.support import DEMO_CLONE, make_world

SILENCE_SECONDS = 0.5


@asynccontextmanager
async def reading(db: Database, gap_grace: float) -> AsyncIterator[events.EventHub]:
    await make_world(db)
    hub = events.EventHub(db, gap_grace=gap_grace)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def topped_up(uow: UnitOfWork, wallet_id: str) -> int:
    """Record a `wallet.topped_up` naming `wallet_id` in `uow`'s transaction; its seq."""
    data = {"wallet": {"id": wallet_id, "customerId": "cus_x"}}
    event = await record(uow.session, DEMO_CLONE, "wallet.topped_up", data, utcnow())
    assert event.seq is not None
    return event.seq


async def next_change(subscriber: events.Subscriber) -> str:
    """The row of the next change (a RESYNC is named as such)."""
    change = await asyncio.wait_for(subscriber.next(), 10)
    return "RESYNC" if change is events.RESYNC else change.row_id


POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@POSTGRESQL_ONLY
async def test_an_event_still_committing_is_waited_for_and_handed_out_first(
    db: Database,
) -> None:
    async with reading(db, gap_grace=30) as hub:
        subscriber = hub.subscribe("wallet", DEMO_CLONE)
        # given a transaction that has taken seq N and not committed yet
        async with UnitOfWork(db, write=True) as slow:
            first = await topped_up(slow, "wal_n")
            # when seq N+1 commits meanwhile
            async with UnitOfWork(db, write=True) as fast:
                second = await topped_up(fast, "wal_n1")
                await fast.commit()
            assert second == first + 1
            # then nothing is handed out, and the horizon stays before N
            await asyncio.sleep(SILENCE_SECONDS)
            assert subscriber.queue.empty()
            assert hub.horizon == first - 1
            # when N commits
            await slow.commit()
        # then N, then N+1
        assert [await next_change(subscriber), await next_change(subscriber)] == [
            "wal_n",
            "wal_n1",
        ]
        assert hub.horizon == second


@POSTGRESQL_ONLY
async def test_a_rolled_back_seq_is_skipped_after_the_grace_period(db: Database) -> None:
    grace = 1.0
    async with reading(db, gap_grace=grace) as hub:
        subscriber = hub.subscribe("wallet", DEMO_CLONE)
        # given a transaction that took seq N and rolled back, then N+1 committed
        async with UnitOfWork(db, write=True) as undone:
            await topped_up(undone, "wal_undone")
        async with UnitOfWork(db, write=True) as uow:
            await topped_up(uow, "wal_after")
            await uow.commit()
        committed = time.monotonic()
        # then N+1 is handed out once N was waited for the grace period, after a RESYNC
        # (row subscribers read their rows again, in case N was a change after all)
        assert await next_change(subscriber) == "RESYNC"
        assert await next_change(subscriber) == "wal_after"
        assert time.monotonic() - committed >= grace * 0.9
        assert subscriber.queue.empty()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_on_sqlite_another_processs_commits_are_found_by_the_poll(db: Database) -> None:
    async with reading(db, gap_grace=5) as hub:
        subscriber = hub.subscribe("wallet", DEMO_CLONE)
        # given commits by another worker on the same file, which wake no hub of ours
        events._local_hubs[str(db.engine.url)].discard(hub)
        for wallet_id in ("wal_1", "wal_2", "wal_3"):
            async with UnitOfWork(db, write=True) as uow:
                await topped_up(uow, wallet_id)
                await uow.commit()
        # then the poll finds them, in order, within its interval
        started = time.monotonic()
        got = [await next_change(subscriber) for _ in range(3)]
        assert got == ["wal_1", "wal_2", "wal_3"]
        assert time.monotonic() - started < events.POLL_SECONDS + 1


async def test_an_unreachable_database_does_not_keep_the_hub_from_starting() -> None:
    # given a database nobody listens for (port 1)
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    hub = events.EventHub(db)
    try:
        # when the hub starts, then it does, without knowing where the events end yet
        await asyncio.wait_for(hub.start(), events.START_WAIT_SECONDS + 5)
        assert not hub.ready.is_set()
        assert hub.reader is not None and not hub.reader.done()
    finally:
        await hub.stop()
        await db.dispose()


async def test_a_burst_of_wake_ups_is_read_in_few_reads(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with reading(db, gap_grace=5) as hub:
        reads = 0
        real = hub.catch_up

        async def counted() -> bool:
            nonlocal reads
            reads += 1
            return await real()

        monkeypatch.setattr(hub, "catch_up", counted)
        # when 200 commits wake it within about 0.2 s
        began = time.monotonic()
        for _ in range(200):
            hub.wake()
            await asyncio.sleep(0.001)
        elapsed = time.monotonic() - began
        await asyncio.sleep(events.READ_SPACING_SECONDS * 2)
    # then it read no more often than once per READ_SPACING_SECONDS (and at least once)
    assert 1 <= reads <= elapsed / events.READ_SPACING_SECONDS + 3


@POSTGRESQL_ONLY
async def test_a_burst_of_committed_payments_is_announced_in_few_notices(db: Database) -> None:
    notices = events.CommittedNotices(db)
    # when 100 payments commit within about 0.1 s
    began = time.monotonic()
    for seq in range(1, 101):
        notices.add(seq)
        await asyncio.sleep(0.001)
    elapsed = time.monotonic() - began
    await notices.drain()
    # then a notice went out at most once per NOTICE_SPACING_SECONDS, the last seq included
    assert 1 <= notices.batches <= elapsed / events.NOTICE_SPACING_SECONDS + 2
    assert notices.pending is None
