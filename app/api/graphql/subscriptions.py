"""Subscriptions over graphql-transport-ws, for dashboards.

- `invoiceUpdated(number)`: the invoice as it is now, then again after every committed
  change (a payment, a void). An unknown invoice, or one the caller may not see, is
  answered like the `invoice` query answers it: a single `null`, and the stream completes.
- `walletUpdated(currency)`: the same for the caller's wallet in `currency`.
- `payments`: admins only; every payment of the admin's tenant, as it commits.
- `events(after, types)`: admins only; the tenant's events from the outbox after the
  cursor, then each new one (app/api/graphql/events.py).

Authentication: the token comes from the `connection_init` payload
(`{"Authorization": "Bearer …"}`), else from the upgrade request's Authorization header.
Every operation on the connection checks it when it starts, as over HTTP: no valid token
(none, forged, expired, a session revoked since connecting) is an `error` message with
UNAUTHENTICATED, a suspended customer or a customer asking for `payments` FORBIDDEN. A
subscription checks the session again before each event it delivers: once revoked or
expired, the next event ends the stream with UNAUTHENTICATED instead of the data.

The first three are fed by this instance's outbox reader (app/events/hub.py) with the
rows each event names; each subscriber reads the row itself, through its own principal,
so nothing crosses customers or tenants.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from app.api.graphql.context import ClientError, Context, Loaders
from app.api.graphql.events import Event, event_stream
from app.api.graphql.types import Invoice, Payment, Wallet
from app.auth.tokens import AuthError, Principal
from app.db import models
from app.db.uow import UnitOfWork
from app.events.hub import RESYNC, EventHub, Kind

Row = TypeVar("Row", models.Invoice, models.Wallet)
Shown = TypeVar("Shown", Invoice, Wallet)


def connection_token(params: dict[str, object] | None, header: str | None) -> str | None:
    """The Authorization value of the `connection_init` payload (any case of the key),
    else the upgrade request's header."""
    for key, value in (params or {}).items():
        if key.lower() == "authorization" and isinstance(value, str):
            return value
    return header


async def accept_connection(context: Context) -> None:
    """On `connection_init`: take the token. The connection is acknowledged either way;
    without a valid token each operation is refused, as over HTTP (UNAUTHENTICATED)."""
    context.authorization = connection_token(context.connection_params, context.authorization)
    await refresh(context)


async def refresh(context: Context) -> None:
    """Check the connection's token again, and start with fresh DataLoaders (a cache never
    outlives the operation or event that filled it)."""
    context.loaders = Loaders(context.db)
    if context.gate is None:
        return
    try:
        context.principal = await context.gate.authenticate(context.authorization)
    except AuthError:
        context.principal = None


class WebSocketSession(SchemaExtension):
    """Before each operation on a websocket (query, mutation or subscription): the token
    again, so a payment over a websocket meets the same checks as over HTTP."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.websocket:
            await refresh(context)
        yield


@dataclass(frozen=True)
class Events:
    """What a stream subscribes to once it starts (it unsubscribes when it ends)."""

    hub: EventHub
    kind: Kind
    tenant_id: str


def _events(context: Context, kind: Kind, principal: Principal) -> Events:
    if context.events is None:
        raise ClientError("Subscriptions are not available here", "SUBSCRIPTIONS_UNAVAILABLE")
    return Events(context.events, kind, principal.tenant_id)


async def _still_allowed(context: Context) -> Principal:
    await refresh(context)
    return context.require_principal()


async def _state_stream(
    context: Context,
    events: Events,
    load: Callable[[], Awaitable[Row | None]],
    show: Callable[[Row], Shown],
    state: Callable[[Row], Hashable],
) -> AsyncGenerator[Shown | None, None]:
    """The row now (or None, and done), then again after each change to it. Subscribed
    before the first read, so a change committed meanwhile is not missed."""
    subscriber = events.hub.subscribe(events.kind, events.tenant_id)
    try:
        row = await load()
        if row is None:
            yield None
            return
        subscriber.row_id = row.id
        last = state(row)
        yield show(row)
        while True:
            event = await subscriber.next()
            if event is not RESYNC and not subscriber.wants(event):
                continue
            subscriber.drain()  # one read shows every change queued so far
            await _still_allowed(context)
            row = await load()
            if row is None:
                yield None
                return
            if state(row) != last:
                last = state(row)
                yield show(row)
    finally:
        subscriber.close()


async def _payments(context: Context, events: Events) -> AsyncGenerator[Payment, None]:
    subscriber = events.hub.subscribe(events.kind, events.tenant_id)
    try:
        while True:
            event = await subscriber.next()
            if subscriber.overflowed:
                raise ClientError("Too many payments to keep up with; subscribe again", "LAGGING")
            if event is RESYNC:
                continue
            await _still_allowed(context)
            async with UnitOfWork(context.db) as uow:
                row = await uow.payments.get(event.row_id)
            if row is not None and context.can_see(row):
                yield Payment.of(row)
    finally:
        subscriber.close()


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The invoice now, then after every change (null if there is none to see)."
    )
    async def invoice_updated(
        self, info: Info[Context, None], number: int
    ) -> AsyncGenerator[Invoice | None, None]:
        context = info.context
        principal = context.require_principal()

        async def load() -> models.Invoice | None:
            async with UnitOfWork(context.db) as uow:
                row = await uow.invoices.get_by_number(principal.tenant_id, number)
            return row if row is not None and context.can_see(row) else None

        def state(row: models.Invoice) -> Hashable:
            return (row.status, row.amount_paid, row.discount_applied)

        return _state_stream(
            context, _events(context, "invoice", principal), load, Invoice.of, state
        )

    @strawberry.subscription(
        description="Your wallet in `currency` now, then after every change (null if none)."
    )
    async def wallet_updated(
        self, info: Info[Context, None], currency: str
    ) -> AsyncGenerator[Wallet | None, None]:
        context = info.context
        principal = context.require_principal()
        customer_id = principal.customer_id

        async def load() -> models.Wallet | None:
            if customer_id is None:
                return None
            async with UnitOfWork(context.db) as uow:
                row = await uow.wallets.get(customer_id, currency)
            return row if row is not None and context.can_see(row) else None

        def state(row: models.Wallet) -> Hashable:
            return row.balance

        return _state_stream(context, _events(context, "wallet", principal), load, Wallet.of, state)

    @strawberry.subscription(description="Admin: every payment of the tenant, as it commits.")
    async def payments(self, info: Info[Context, None]) -> AsyncGenerator[Payment, None]:
        context = info.context
        principal = context.require_admin()
        return _payments(context, _events(context, "payment", principal))

    @strawberry.subscription(
        description="Admin: the tenant's events after `after` (an edge cursor of the `events`"
        " query or an event id; none: from now), oldest first, then each new one."
    )
    async def events(
        self,
        info: Info[Context, None],
        after: str | None = None,
        types: list[str] | None = None,
    ) -> AsyncGenerator[Event, None]:
        context = info.context
        return await event_stream(context, after, types, lambda: _still_allowed(context))
