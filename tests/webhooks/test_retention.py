"""Retention: events older than EVENT_RETENTION_DAYS go with their deliveries and
attempts, batch by batch; newer ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, event, text

from app.db.engine import Database
from app.db.models import UTCDateTime, utcnow
from app.db.uow import UnitOfWork
from app.webhooks.retention import prune
from tests.support import make_world
from tests.support.receiver import receiver
from tests.support.webhooks import dispatcher, given_endpoint, given_events, rows


async def test_old_events_and_their_delivery_records_are_pruned_in_batches(
    db: Database,
) -> None:
    # given 25 events delivered 40 days ago and 3 from today, each with an attempt
    await make_world(db)
    async with receiver() as hook:
        await given_endpoint(db, hook.url)
        old = await given_events(db, 25)
        new = await given_events(db, 3)
        worker = dispatcher(db)
        while await worker.run_once():
            pass
        await worker.aclose()
    backdate = text(
        "UPDATE events SET created_at = :then WHERE seq BETWEEN :first AND :last"
    ).bindparams(bindparam("then", type_=UTCDateTime))
    async with UnitOfWork(db, write=True) as uow:
        connection = await uow.session.connection()
        await connection.execute(
            backdate,
            {"then": utcnow() - timedelta(days=40), "first": old[0].seq, "last": old[-1].seq},
        )
        await uow.commit()
    # when pruned with a retention of 30 days, 10 rows per statement
    deletes: list[int] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().startswith("DELETE"):
            deletes.append(1)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        deleted = await prune(db, 30, batch=10)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    # then the 25 old events, deliveries and attempts are gone, in batches of 10
    assert deleted == 75
    assert len(deletes) == 3 * 3  # 10 + 10 + 5 rows, for each of the three tables
    # (the world's own events, from its customers and top-ups, are recent: they stay)
    kept = [row[0] for row in await rows(db, "SELECT id FROM events ORDER BY seq")]
    assert kept[-3:] == [e.id for e in new]
    assert not {e.id for e in old} & set(kept)
    assert await rows(db, "SELECT count(*) FROM webhook_deliveries") == [(3,)]
    assert await rows(db, "SELECT count(*) FROM webhook_attempts") == [(3,)]
