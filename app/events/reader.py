"""Reading a tenant's events from the outbox, oldest first, by keyset on (tenant, seq):
the `events` query and subscription (app/api/graphql/events.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from app.db.engine import Database
from app.db.models import Event
from app.db.uow import UnitOfWork


async def page(
    db: Database,
    tenant_id: str,
    *,
    after: int,
    types: Sequence[str] | None,
    limit: int,
    upto: int | None = None,
) -> list[Event]:
    """Up to `limit` events of the tenant after seq `after` (of `types`, if given), and
    none beyond seq `upto` (a live reader's horizon, app.events.hub)."""
    query = select(Event).where(Event.tenant_id == tenant_id, col(Event.seq) > after)
    if types is not None:
        query = query.where(col(Event.type).in_(types))
    if upto is not None:
        query = query.where(col(Event.seq) <= upto)
    async with UnitOfWork(db) as uow:
        return list((await uow.session.exec(query.order_by(col(Event.seq)).limit(limit))).all())


async def get(db: Database, tenant_id: str, event_id: str) -> Event | None:
    """The tenant's event `event_id` (another tenant's is answered as a missing one)."""
    query = select(Event).where(Event.id == event_id, Event.tenant_id == tenant_id)
    async with UnitOfWork(db) as uow:
        return (await uow.session.exec(query)).first()
