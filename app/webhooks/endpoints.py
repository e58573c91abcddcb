"""The webhook endpoints of a tenant, for its admins: create (the secret is shown then and
on rotation only), update, delete, rotate the secret, list, page through deliveries and
deliver an event again. Another tenant's endpoint or event is answered as a missing one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db.engine import Database
from app.db.models import (
    Event,
    Tenant,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSubscription,
    new_id,
    utcnow,
)
from app.db.uow import UnitOfWork
from app.errors import EventNotFound, InvalidInput, WebhookEndpointNotFound
from app.events.outbox import EVENT_TYPES
from app.webhooks.signing import ROTATION_OVERLAP, new_secret
from app.webhooks.urls import check_url

MAX_ENDPOINTS = 20  # per tenant: `webhookEndpoints` is a list without pagination
MAX_DESCRIPTION = 500
PENDING, SUCCEEDED, FAILED = "PENDING", "SUCCEEDED", "FAILED"


@dataclass(frozen=True)
class Endpoint:
    row: WebhookEndpoint
    event_types: tuple[str, ...]


@dataclass(frozen=True)
class Delivery:
    """A delivery as shown: its row, its event and its last attempt (if any)."""

    row: WebhookDelivery
    event: Event
    last_attempt: WebhookAttempt | None


@dataclass(frozen=True)
class Changes:
    """An update: None leaves a field as it is (`clear_description` empties it)."""

    url: str | None = None
    event_types: Sequence[str] | None = None
    enabled: bool | None = None
    description: str | None = None
    clear_description: bool = False


def _event_types(types: Sequence[str]) -> tuple[str, ...]:
    if not types:
        raise InvalidInput(field="eventTypes", reason="EMPTY")
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(field="eventTypes", reason=f"UNKNOWN_EVENT_TYPE: {unknown[0][:64]}")
    return tuple(dict.fromkeys(types))


def _description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidInput(field="description", reason="TOO_LONG")
    return description


async def _owned(session: AsyncSession, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    row = await session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.tenant_id != tenant_id:
        raise WebhookEndpointNotFound(endpoint_id=endpoint_id)
    return row


async def _types_of(session: AsyncSession, endpoint_ids: Sequence[str]) -> dict[str, list[str]]:
    rows = await session.exec(
        select(WebhookSubscription).where(col(WebhookSubscription.endpoint_id).in_(endpoint_ids))
    )
    types: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        types[row.endpoint_id].append(row.event_type)
    return types


async def _subscribe(
    session: AsyncSession, endpoint: WebhookEndpoint, types: Sequence[str]
) -> None:
    await session.exec(
        delete(WebhookSubscription).where(col(WebhookSubscription.endpoint_id) == endpoint.id)
    )
    for type_ in types:
        session.add(
            WebhookSubscription(
                endpoint_id=endpoint.id, tenant_id=endpoint.tenant_id, event_type=type_
            )
        )


def _ordered(types: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(types, key=EVENT_TYPES.index))


async def create_endpoint(
    db: Database,
    tenant_id: str,
    url: str,
    event_types: Sequence[str],
    description: str | None,
    *,
    allow_private: bool,
) -> tuple[Endpoint, str]:
    """A new endpoint and its secret (shown to the caller this once)."""
    types = _event_types(event_types)
    description = _description(description)
    await check_url(url, allow_private=allow_private)
    secret = new_secret()
    async with UnitOfWork(db, write=True) as uow:
        # The tenant's row locked: two creations at once cannot both pass the cap.
        await uow.session.exec(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
        count = (
            await uow.session.exec(
                select(func.count()).where(col(WebhookEndpoint.tenant_id) == tenant_id)
            )
        ).one()
        if count >= MAX_ENDPOINTS:
            raise InvalidInput(field="url", reason=f"TOO_MANY_ENDPOINTS: at most {MAX_ENDPOINTS}")
        now = utcnow()
        row = WebhookEndpoint(
            id=new_id("whe"),
            tenant_id=tenant_id,
            url=url,
            description=description,
            secret=secret,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(row)
        await uow.flush()
        await _subscribe(uow.session, row, types)
        await uow.commit()
    return Endpoint(row, _ordered(types)), secret


async def update_endpoint(
    db: Database, tenant_id: str, endpoint_id: str, changes: Changes, *, allow_private: bool
) -> Endpoint:
    types = None if changes.event_types is None else _event_types(changes.event_types)
    description = _description(changes.description)
    if changes.url is not None:
        await check_url(changes.url, allow_private=allow_private)
    async with UnitOfWork(db, write=True) as uow:
        row = await _owned(uow.session, tenant_id, endpoint_id)
        if changes.url is not None:
            row.url = changes.url
        if description is not None or changes.clear_description:
            row.description = description
        if changes.enabled is not None:
            if changes.enabled and not row.enabled:
                row.failed_events = 0  # a fresh start: 10 new failures to disable it again
            row.enabled = changes.enabled
        row.updated_at = utcnow()
        uow.session.add(row)
        if types is not None:
            await _subscribe(uow.session, row, types)
        await uow.flush()
        current = types if types is not None else (await _types_of(uow.session, [row.id]))[row.id]
        await uow.commit()
    return Endpoint(row, _ordered(current))


async def delete_endpoint(db: Database, tenant_id: str, endpoint_id: str) -> str:
    async with UnitOfWork(db, write=True) as uow:
        row = await _owned(uow.session, tenant_id, endpoint_id)
        # Children first: SQLite enforces the foreign keys without relying on CASCADE order.
        for table in (WebhookAttempt, WebhookDelivery, WebhookSubscription):
            await uow.session.exec(delete(table).where(col(table.endpoint_id) == row.id))
        await uow.session.delete(row)
        await uow.commit()
    return endpoint_id


async def rotate_secret(db: Database, tenant_id: str, endpoint_id: str) -> tuple[Endpoint, str]:
    """A new secret; the old one still signs (a second signature) for 24 hours."""
    secret = new_secret()
    async with UnitOfWork(db, write=True) as uow:
        row = await _owned(uow.session, tenant_id, endpoint_id)
        now = utcnow()
        row.previous_secret, row.previous_secret_until = row.secret, now + ROTATION_OVERLAP
        row.secret, row.updated_at = secret, now
        uow.session.add(row)
        types = (await _types_of(uow.session, [row.id]))[row.id]
        await uow.commit()
    return Endpoint(row, _ordered(types)), secret


async def list_endpoints(db: Database, tenant_id: str | None) -> list[Endpoint]:
    """A tenant's endpoints, oldest first (every tenant's with None: the CLI)."""
    async with UnitOfWork(db) as uow:
        query = select(WebhookEndpoint).order_by(
            col(WebhookEndpoint.created_at), col(WebhookEndpoint.id)
        )
        if tenant_id is not None:
            query = query.where(WebhookEndpoint.tenant_id == tenant_id)
        rows = (await uow.session.exec(query)).all()
        types = await _types_of(uow.session, [row.id for row in rows])
    return [Endpoint(row, _ordered(types[row.id])) for row in rows]


async def get_endpoint(db: Database, tenant_id: str | None, endpoint_id: str) -> WebhookEndpoint:
    """An endpoint of the tenant (of any tenant with None: the CLI)."""
    async with UnitOfWork(db) as uow:
        row = await uow.session.get(WebhookEndpoint, endpoint_id)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise WebhookEndpointNotFound(endpoint_id=endpoint_id)
    return row


async def find_endpoint(db: Database, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    """The tenant's endpoint with its event types; None for another tenant's, as missing."""
    async with UnitOfWork(db) as uow:
        row = await uow.session.get(WebhookEndpoint, endpoint_id)
        if row is None or row.tenant_id != tenant_id:
            return None
        types = (await _types_of(uow.session, [row.id]))[row.id]
    return Endpoint(row, _ordered(types))


async def deliveries_page(
    db: Database, endpoint_id: str, before_seq: int | None, limit: int
) -> list[Delivery]:
    """An endpoint's deliveries, newest event first, from before `before_seq`."""
    async with UnitOfWork(db) as uow:
        query = (
            select(WebhookDelivery, Event)
            .join(Event, col(Event.seq) == col(WebhookDelivery.event_seq))
            .where(col(WebhookDelivery.endpoint_id) == endpoint_id)
            .order_by(col(WebhookDelivery.event_seq).desc())
            .limit(limit)
        )
        if before_seq is not None:
            query = query.where(col(WebhookDelivery.event_seq) < before_seq)
        pairs = (await uow.session.exec(query)).all()
        attempts = await uow.session.exec(
            select(WebhookAttempt)
            .where(
                col(WebhookAttempt.endpoint_id) == endpoint_id,
                col(WebhookAttempt.event_seq).in_([d.event_seq for d, _ in pairs]),
            )
            .order_by(col(WebhookAttempt.id))
        )
        last = {attempt.event_seq: attempt for attempt in attempts}
    return [Delivery(row, event, last.get(row.event_seq)) for row, event in pairs]


async def redeliver(db: Database, tenant_id: str, endpoint_id: str, event_id: str) -> Delivery:
    """The event's delivery to the endpoint PENDING and due now (made if there was none, e.g.
    for an event from before the endpoint); new attempts continue the count."""
    async with UnitOfWork(db, write=True) as uow:
        await _owned(uow.session, tenant_id, endpoint_id)
        event = (await uow.session.exec(select(Event).where(Event.id == event_id))).first()
        if event is None or event.tenant_id != tenant_id or event.seq is None:
            raise EventNotFound(event_id=event_id)
        now = utcnow()
        row = await uow.session.get(WebhookDelivery, (endpoint_id, event.seq))
        if row is None:
            row = WebhookDelivery(
                tenant_id=tenant_id, endpoint_id=endpoint_id, event_seq=event.seq, created_at=now
            )
        row.status, row.next_attempt_at, row.claimed_until, row.updated_at = (
            PENDING,
            now,
            None,
            now,
        )
        uow.session.add(row)
        await uow.commit()
    return Delivery(row, event, None)


def delivery_id(endpoint_id: str, event_id: str) -> str:
    return f"{endpoint_id}.{event_id}"
