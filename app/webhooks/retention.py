"""Events older than EVENT_RETENTION_DAYS go, with their deliveries and attempts: batch by
batch (`BATCH` rows per statement, each in its own short transaction), children first, so
no statement holds many locks or runs long."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, text

from app.db.engine import Database
from app.db.models import UTCDateTime, utcnow
from app.db.uow import UnitOfWork

BATCH = 1000

STATEMENTS = tuple(
    text(sql).bindparams(bindparam("cutoff", type_=UTCDateTime))
    for sql in (
        """DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts
        WHERE event_seq IN (SELECT seq FROM events WHERE created_at < :cutoff) LIMIT :batch)""",
        """DELETE FROM webhook_deliveries WHERE (endpoint_id, event_seq) IN (
        SELECT endpoint_id, event_seq FROM webhook_deliveries
        WHERE event_seq IN (SELECT seq FROM events WHERE created_at < :cutoff) LIMIT :batch)""",
        """DELETE FROM events WHERE seq IN (
        SELECT seq FROM events WHERE created_at < :cutoff ORDER BY seq LIMIT :batch)""",
    )
)


async def prune(
    db: Database, retention_days: int, now: datetime | None = None, batch: int = BATCH
) -> int:
    """Delete what is older than the retention; the number of rows deleted."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    deleted = 0
    for statement in STATEMENTS:
        while True:
            async with UnitOfWork(db, write=True) as uow:
                connection = await uow.session.connection()
                result = await connection.execute(statement, {"cutoff": cutoff, "batch": batch})
                await uow.commit()
            count = max(result.rowcount, 0)
            deleted += count
            if count < batch:
                break
    return deleted
