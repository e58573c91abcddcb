"""Change events for subscriptions, published only when the change has committed.

    committed_notices(db).add(events)  ──►  PostgreSQL, the payment hot path
                               (app.payments.pg_store): after its statement
                               committed, batched (see below)
    publish(uow, events)  ──►  PostgreSQL: `pg_notify` in uow's own transaction, which
                               PostgreSQL delivers only if and when it commits, to every
                               app instance LISTENing on the database (EventListener)
                          ──►  SQLite: held on the session, dispatched in this process
                               right after the commit succeeded, dropped on rollback
    EventHub  ──►  the instance's local subscribers (app.api.graphql.subscriptions)

An event names a row and who owns it, nothing more (NOTIFY payloads are limited to 8000
bytes, and a subscriber reads the row itself, as it is now, and only if it may see it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any, Literal

import asyncpg
from sqlalchemy import event as sa_event
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session

from app.db.engine import CONNECT_TIMEOUT_SECONDS, Database
from app.db.models import Invoice, Payment, Wallet
from app.db.uow import UnitOfWork

log = logging.getLogger("invoicepay.events")

CHANNEL = "invoicepay_events"
LISTENER_NAME = "invoicepay-events"  # application_name of the LISTEN connections
MAX_PAYLOAD_BYTES = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
QUEUE_SIZE = 256  # events a subscriber may fall behind by before it is told (overflowed)
PING_SECONDS = 10  # how often an idle LISTEN connection is checked for life
MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30
START_WAIT_SECONDS = 5
_PENDING = "invoicepay_pending_events"
_URL = "invoicepay_database_url"
NOTIFY = text("SELECT pg_notify(:channel, :payload)")

Kind = Literal["invoice", "wallet", "payment"]


@dataclass(frozen=True)
class Event:
    kind: Kind
    tenant_id: str
    customer_id: str
    row_id: str

    @classmethod
    def of(cls, row: Invoice | Wallet | Payment) -> Event:
        return cls(
            kind=_KINDS[type(row)],
            tenant_id=row.tenant_id,
            customer_id=row.customer_id,
            row_id=row.id,
        )


_KINDS: dict[type, Kind] = {Invoice: "invoice", Wallet: "wallet", Payment: "payment"}


RESYNC = Event(kind="invoice", tenant_id="", customer_id="", row_id="")
"""Sent to every subscriber when events may have been missed (the listener reconnected)."""


async def publish(uow: UnitOfWork, events: Sequence[Event]) -> None:
    """Publish `events` if and when `uow` commits; never if it rolls back."""
    if not events:
        return
    if uow.db.is_sqlite:
        _hold_until_commit(uow.session.sync_session, str(uow.db.engine.url), events)
        return
    await notify(await uow.session.connection(), events)


async def notify(connection: AsyncConnection, events: Sequence[Event]) -> None:
    """PostgreSQL: NOTIFY `events` from the transaction open on `connection`, to be
    delivered when, and only if, it commits."""
    for payload in payloads(events):
        await connection.execute(NOTIFY, {"channel": CHANNEL, "payload": payload})


def payloads(events: Sequence[Event]) -> Iterator[str]:
    """JSON arrays of events, each small enough for one NOTIFY (one for any real change)."""
    batch: list[dict[str, str]] = []
    for item in events:
        candidate = [*batch, asdict(item)]
        if batch and len(json.dumps(candidate)) > MAX_PAYLOAD_BYTES:
            yield json.dumps(batch)
            candidate = [asdict(item)]
        batch = candidate
    if batch:
        yield json.dumps(batch)


# --- PostgreSQL, the payment hot path: NOTIFY after the commit, in batches.
#
# A NOTIFY inside a transaction makes its COMMIT queue the notification under a lock
# that every notifying commit of the database shares: measured on the pay statement
# (make bench, the replay), it halved what PostgreSQL could commit (2464 → 1303 TPS).
# So a payment's own statement notifies nothing; once it has committed, its events are
# queued here and sent by one task, every change that committed meanwhile in a single
# NOTIFY statement. They still leave only after the commit; what is lost is only the
# guarantee across a crash of this process between the two (a subscriber then sees the
# change with the next event of that row, or in full when its listener reconnects).

NOTIFY_MANY = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload"
_committed: weakref.WeakKeyDictionary[Database, CommittedNotices] = weakref.WeakKeyDictionary()


class CommittedNotices:
    """The NOTIFYs of committed changes, sent in batches by one task per database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: list[str] = []
        self.sending: asyncio.Task[None] | None = None
        self.batches = 0  # statements sent (for tests and the curious)

    def add(self, events: Sequence[Event]) -> None:
        self.pending.extend(payloads(events))
        if self.sending is None or self.sending.done():
            self.sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                async with (await self.db.pg_pool()).acquire() as connection:
                    await connection.execute(NOTIFY_MANY, CHANNEL, batch)
                self.batches += 1
            except Exception as error:  # the changes stand; only their notices are lost
                log.warning("event notices of %d change(s) not sent: %s", len(batch), error)

    async def drain(self) -> None:
        """Wait until every queued notice went out (at shutdown)."""
        while self.sending is not None and not self.sending.done():
            await self.sending


def committed_notices(db: Database) -> CommittedNotices:
    notices = _committed.get(db)
    if notices is None:
        notices = _committed[db] = CommittedNotices(db)
    return notices


def parse(payload: str) -> list[Event]:
    return [Event(**item) for item in json.loads(payload)]


# --- SQLite: one process, so events go straight to this process's hubs after the commit.

_local_hubs: dict[str, set[EventHub]] = {}


def _hold_until_commit(session: Session, url: str, events: Sequence[Event]) -> None:
    pending: list[Event] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        session.info[_URL] = url
        sa_event.listen(session, "after_commit", _dispatch_committed)
        sa_event.listen(session, "after_rollback", _drop_pending)
    pending.extend(events)


def _dispatch_committed(session: Session) -> None:
    events = session.info.pop(_PENDING, [])
    session.info[_PENDING] = []
    for hub in list(_local_hubs.get(session.info[_URL], ())):
        hub.dispatch(events)


def _drop_pending(session: Session) -> None:
    session.info[_PENDING] = []


# --- The fan-out to this instance's subscribers.


class Subscriber:
    """One subscriber's queue of the events it wants. `overflowed` is set when it fell more
    than QUEUE_SIZE events behind and some were dropped."""

    def __init__(self, hub: EventHub, kind: Kind, tenant_id: str, row_id: str | None) -> None:
        self.hub = hub
        self.kind = kind
        self.tenant_id = tenant_id
        self.row_id = row_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def wants(self, item: Event) -> bool:
        return (
            item.kind == self.kind
            and item.tenant_id == self.tenant_id
            and (self.row_id is None or item.row_id == self.row_id)
        )

    def offer(self, item: Event) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self) -> Event:
        return await self.queue.get()

    def drain(self) -> None:
        """Forget queued events (a state subscriber reads the state once for all of them)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    def close(self) -> None:
        self.hub.subscribers.discard(self)


class EventHub:
    """This instance's subscribers, fed by the PostgreSQL listener or, on SQLite, by
    commits in this process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.subscribers: set[Subscriber] = set()
        self.listener: EventListener | None = None

    def subscribe(self, kind: Kind, tenant_id: str, row_id: str | None = None) -> Subscriber:
        subscriber = Subscriber(self, kind, tenant_id, row_id)
        self.subscribers.add(subscriber)
        return subscriber

    def dispatch(self, events: Sequence[Event]) -> None:
        for subscriber in list(self.subscribers):
            for item in events:
                if subscriber.wants(item):
                    subscriber.offer(item)

    def resync(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(RESYNC)

    async def start(self) -> None:
        if self.db.is_sqlite:
            _local_hubs.setdefault(str(self.db.engine.url), set()).add(self)
        else:
            self.listener = EventListener(self.db.url, self)
            self.listener.start()
            # Serve once listening, so a subscriber of a fresh instance misses nothing; a
            # database that is down must not keep the instance from starting, though.
            with suppress(TimeoutError):
                await asyncio.wait_for(self.listener.connected.wait(), START_WAIT_SECONDS)

    async def stop(self) -> None:
        if self.db.is_sqlite:
            _local_hubs.get(str(self.db.engine.url), set()).discard(self)
        elif self.listener is not None:
            await self.listener.stop()


class EventListener:
    """One dedicated LISTEN connection per instance. Reconnects with backoff when the
    connection is lost (a database restart); each (re)connection RESYNCs every subscriber,
    since NOTIFYs sent while nobody listened are gone."""

    def __init__(self, url: str, hub: EventHub) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.hub = hub
        self.task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="invoicepay-event-listener")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        backoff = MIN_BACKOFF_SECONDS
        while True:
            try:
                await self._listen()
                reason = "connection lost"
            except Exception as error:  # the database restarting, unreachable, or failing
                reason = type(error).__name__
            if self.connected.is_set():  # it was listening: start again from the least wait
                backoff = MIN_BACKOFF_SECONDS
            self.connected.clear()
            log.warning("event listener: %s; reconnecting in %.1fs", reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen(self) -> None:
        connection = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": LISTENER_NAME},
        )
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(CHANNEL, self._received)
            self.connected.set()
            self.hub.resync()
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), PING_SECONDS)
                except TimeoutError:
                    await connection.fetchval("SELECT 1", timeout=PING_SECONDS)
        finally:
            connection.terminate()

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            events = parse(payload)
        except (ValueError, TypeError):
            log.error("event listener: an unreadable payload was ignored")
            return
        self.hub.dispatch(events)
