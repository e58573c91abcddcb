"""The outbox over GraphQL, for the tenant's admins: the `events` query (a connection,
oldest first), `node(id: "evt_…")` and the `events` subscription.

A cursor is an edge cursor of the query (opaque) or an event's id (`evt_…`, what a
subscriber last received). The subscription is a cursor reader over the table: it reads
every event after its cursor, in batches, then waits for the hub's horizon to move and
reads again, never past the horizon (app.events.hub: below it no event is still
committing). Replay and live events are one read loop, so there is no seam to lose or
repeat an event at, and a subscriber that reconnects with its last cursor misses none.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.api.graphql.context import ClientError, Context, bad_input
from app.api.graphql.types import (
    Node,
    PageInfo,
    decode_cursor,
    encode_cursor,
    page_info,
    page_size,
)
from app.auth.tokens import Principal
from app.db import models
from app.events import reader
from app.events.outbox import EVENT_TYPES

CURSOR = "evt"
STREAM_BATCH = 100  # events a subscription reads per statement


@strawberry.type(name="Event")
class Event(Node):
    row: strawberry.Private[models.Event]
    type: str
    created_at: datetime
    data: JSON

    @classmethod
    def of(cls, row: models.Event) -> Event:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            type=row.type,
            created_at=row.created_at,
            data=json.loads(row.data),
        )


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo


def cursor_of(row: models.Event) -> str:
    assert row.seq is not None
    return encode_cursor(CURSOR, row.seq)


def wanted_types(types: list[str] | None) -> list[str] | None:
    if types is None:
        return None
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise bad_input(f"Unknown event type {unknown[0][:64]!r}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(types))


async def position(context: Context, tenant_id: str, after: str | None) -> int | None:
    """The seq `after` names: an edge cursor, or the id of one of the tenant's events."""
    if after is None or not after.startswith(f"{models.ID_PREFIXES['event']}_"):
        return decode_cursor(CURSOR, after)
    row = await reader.get(context.db, tenant_id, after)
    if row is None or row.seq is None:
        raise bad_input("Invalid cursor")
    return row.seq


async def events_page(
    context: Context, first: int | None, after: str | None, types: list[str] | None
) -> EventConnection:
    principal = context.require_admin()
    size = page_size(first)
    wanted = wanted_types(types)
    start = await position(context, principal.tenant_id, after)
    rows = await reader.page(
        context.db, principal.tenant_id, after=start or 0, types=wanted, limit=size + 1
    )
    edges = [EventEdge(cursor=cursor_of(row), node=Event.of(row)) for row in rows[:size]]
    return EventConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], len(rows) > size, after is not None),
    )


async def event_node(context: Context, event_id: str) -> Event | None:
    """`node(id: "evt_…")`: the tenant's admins only (anyone else: null, as for a missing one)."""
    principal = context.require_principal()
    if not principal.is_admin:
        return None
    row = await reader.get(context.db, principal.tenant_id, event_id)
    return Event.of(row) if row is not None else None


async def event_stream(
    context: Context,
    after: str | None,
    types: list[str] | None,
    still_allowed: Callable[[], Awaitable[Principal]],
) -> AsyncGenerator[Event, None]:
    """Every event of the admin's tenant after `after` (or from now), then each new one."""
    principal = context.require_admin()
    hub = context.events
    if hub is None:
        raise ClientError("Subscriptions are not available here", "SUBSCRIPTIONS_UNAVAILABLE")
    wanted = wanted_types(types)
    start = await position(context, principal.tenant_id, after)
    return _stream(context, principal.tenant_id, start, wanted, still_allowed)


async def _stream(
    context: Context,
    tenant_id: str,
    start: int | None,
    wanted: list[str] | None,
    still_allowed: Callable[[], Awaitable[Principal]],
) -> AsyncGenerator[Event, None]:
    hub = context.events
    assert hub is not None
    await hub.ready.wait()  # "from now" is the reader's horizon, once it has one
    seq = hub.horizon if start is None else start
    while True:
        advanced = hub.advanced()  # taken before the read: a move meanwhile is not missed
        rows = await reader.page(
            context.db, tenant_id, after=seq, types=wanted, limit=STREAM_BATCH, upto=hub.horizon
        )
        if rows:
            await still_allowed()  # once per batch: a revoked session ends the stream
        for row in rows:
            assert row.seq is not None
            seq = row.seq
            yield Event.of(row)
        if len(rows) < STREAM_BATCH:
            await advanced.wait()
