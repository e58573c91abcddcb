"""This instance's reader of the outbox (the `events` table, app.events.outbox), and the
subscribers it feeds.

    change commits its event row  ──►  wake: PostgreSQL NOTIFY carrying the newest seq
                                       (a UoW change: `pg_notify` in its own transaction,
                                       sent only if it commits; the payment hot path:
                                       `CommittedNotices`, after its statement committed);
                                       SQLite: this process's hubs, right after the commit
    EventHub reader  ──►  reads `events` after the last seq it has, oldest first, in
                          batches, on every wake-up and at least every POLL_SECONDS
    subscribers  ──►  row subscriptions (`subscribe`: the changes each event names) and
                      cursor readers (`advanced`: the `events` subscription reads the
                      table itself, up to `horizon`, app.api.graphql.events)

A NOTIFY only wakes the reader: the events come from the table, so a lost NOTIFY (the
LISTEN connection dropped, a notice lost in a crash, other SQLite workers) delays an
event by at most POLL_SECONDS and loses nothing.

Gaps. `seq` is taken when the event row is inserted, and transactions commit out of
order: a reader that sees seq 12 may not see seq 11 yet (still committing). The reader
therefore only takes the contiguous run after its last seq. At a gap it reads again
(every GAP_RECHECK_SECONDS and on each wake-up) until the missing seq appears, for at
most the grace period (`EVENT_GAP_GRACE`, default 5 s); then it skips it, since a
transaction that rolled back after taking its seq leaves a permanent gap, and tells row
subscribers to read their rows again (RESYNC). An event whose transaction stays open
longer than the grace is skipped by live readers (a query or a reconnecting `events`
subscription still finds it in the table). `horizon` is the last seq the reader has
passed: every event at or below it has committed or been given up, so a cursor reader
that reads no further than it never steps over an event still committing. On SQLite
writers are serialised (BEGIN IMMEDIATE), so commits come in seq order and only a
rollback leaves a gap (and AUTOINCREMENT does not reuse its seq).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from sqlalchemy import event as sa_event
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import DEFAULT_EVENT_GAP_GRACE
from app.db.engine import CONNECT_TIMEOUT_SECONDS, Database

log = logging.getLogger("invoicepay.events")

CHANNEL = "invoicepay_events"
LISTENER_NAME = "invoicepay-events"  # application_name of the LISTEN connections
QUEUE_SIZE = 256  # changes a subscriber may fall behind by before it is told (overflowed)
PING_SECONDS = 10  # how often an idle LISTEN connection is checked for life
MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30
START_WAIT_SECONDS = 5
POLL_SECONDS = 1.0  # the reader reads at least this often, woken or not
GAP_RECHECK_SECONDS = 0.05  # how often a gap is looked at again while it is waited for
# A burst of commits is one read, and one NOTIFY: the reader reads, and a process sends
# its payments' notices, no more often than this (under load, a read per commit or two cost
# the app about 6 % of its CPU per payment, with the dispatcher's round each read woke;
# an event now waits at most this long more).
READ_SPACING_SECONDS = 0.02
NOTICE_SPACING_SECONDS = 0.01
BATCH = 500  # events read per statement
_WAKE_SEQ = "invoicepay_wake_seq"
_LISTENING = "invoicepay_wake_listening"
NOTIFY = text("SELECT pg_notify(:channel, :payload)")

Kind = Literal["invoice", "wallet", "payment"]


@dataclass(frozen=True)
class Change:
    """A row an event says changed, and whose it is (for the row subscriptions)."""

    kind: Kind
    tenant_id: str
    customer_id: str
    row_id: str


RESYNC = Change(kind="invoice", tenant_id="", customer_id="", row_id="")
"""Sent to every row subscriber when a change may have been missed (a gap was skipped)."""


def changes_of(tenant_id: str, type_: str, data: dict[str, Any]) -> list[Change]:
    """The rows an event of `type_` names (app.events.shapes)."""
    named: dict[str, tuple[Kind, ...]] = {
        "payment.succeeded": ("payment", "invoice", "wallet"),
        "refund.succeeded": ("payment", "invoice", "wallet"),
        "invoice.created": ("invoice",),
        "invoice.voided": ("invoice",),
        "wallet.topped_up": ("wallet",),
    }
    kinds = named.get(type_, ())
    return [Change(kind, tenant_id, data[kind]["customerId"], data[kind]["id"]) for kind in kinds]


# --- Waking the readers once a change has committed.


async def wake_on_commit(session: AsyncSession, seq: int) -> None:
    """Wake every reader when `session`'s transaction, which wrote event `seq`, commits
    (never if it rolls back): on PostgreSQL a NOTIFY in the transaction, which PostgreSQL
    sends only at the commit, on SQLite this process's hubs after the commit."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        await connection.execute(NOTIFY, {"channel": CHANNEL, "payload": str(seq)})
        return
    sync = session.sync_session
    if not sync.info.get(_LISTENING):
        sync.info[_LISTENING] = True
        sa_event.listen(sync, "after_commit", _wake_local)
        sa_event.listen(sync, "after_rollback", _forget_wake)
    sync.info[_WAKE_SEQ] = seq


def _wake_local(session: Session) -> None:
    if session.info.pop(_WAKE_SEQ, None) is None:
        return
    bind = session.get_bind()
    for hub in list(_local_hubs.get(str(bind.engine.url), ())):
        hub.wake()


def _forget_wake(session: Session) -> None:
    session.info.pop(_WAKE_SEQ, None)


_local_hubs: dict[str, set[EventHub]] = {}


# --- PostgreSQL, the payment hot path: NOTIFY after the commit, in batches.
#
# A NOTIFY inside a transaction makes its COMMIT queue the notification under a lock
# that every notifying commit of the database shares: measured on the pay statement
# (make bench, the replay), it halved what PostgreSQL could commit (2464 → 1303 TPS).
# So a payment's own statement notifies nothing; once it has committed, the newest seq
# is queued here and sent by one task, one NOTIFY for every payment committed meanwhile.
# A notice lost in a crash between the commit and the send only delays the event until
# the readers' next poll.

_committed: weakref.WeakKeyDictionary[Database, CommittedNotices] = weakref.WeakKeyDictionary()


class CommittedNotices:
    """The wake-up of committed payments, sent by one task per database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: int | None = None  # the newest seq not yet announced
        self.sending: asyncio.Task[None] | None = None
        self.last_sent = 0.0  # time.monotonic() of the last notice
        self.batches = 0  # statements sent (for tests and the curious)

    def add(self, seq: int) -> None:
        self.pending = seq if self.pending is None else max(self.pending, seq)
        loop = asyncio.get_running_loop()
        sending = self.sending
        if sending is None or sending.done() or sending.get_loop() is not loop:
            self.sending = loop.create_task(self._send())

    async def _send(self) -> None:
        while self.pending is not None:
            # No more often than NOTICE_SPACING_SECONDS: what commits meanwhile goes out
            # in this one. The task ends as soon as nothing is pending.
            await asyncio.sleep(
                max(0.0, self.last_sent + NOTICE_SPACING_SECONDS - time.monotonic())
            )
            self.last_sent = time.monotonic()
            seq, self.pending = self.pending, None
            try:
                async with (await self.db.pg_pool()).acquire() as connection:
                    await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(seq))
                self.batches += 1
            except Exception as error:  # the changes stand; the readers' poll finds them
                log.warning("event notice up to seq %d not sent: %s", seq, error)

    async def drain(self) -> None:
        """Wait until every queued notice went out (at shutdown). A sending task of an
        event loop that has ended (tests run one per test) is never waited for: it cannot
        finish, and its notices only hurry the readers, whose poll finds the events."""
        while self.sending is not None and not self.sending.done():
            if self.sending.get_loop() is not asyncio.get_running_loop():
                self.sending = None
                return
            await self.sending


def committed_notices(db: Database) -> CommittedNotices:
    notices = _committed.get(db)
    if notices is None:
        notices = _committed[db] = CommittedNotices(db)
    return notices


# --- The fan-out to this instance's subscribers.


class Subscriber:
    """One row subscriber's queue of the changes it wants. `overflowed` is set when it fell
    more than QUEUE_SIZE changes behind and some were dropped."""

    def __init__(self, hub: EventHub, kind: Kind, tenant_id: str, row_id: str | None) -> None:
        self.hub = hub
        self.kind = kind
        self.tenant_id = tenant_id
        self.row_id = row_id
        self.queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def wants(self, item: Change) -> bool:
        return (
            item.kind == self.kind
            and item.tenant_id == self.tenant_id
            and (self.row_id is None or item.row_id == self.row_id)
        )

    def offer(self, item: Change) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self) -> Change:
        return await self.queue.get()

    def drain(self) -> None:
        """Forget queued changes (a state subscriber reads the state once for all of them)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    def close(self) -> None:
        self.hub.subscribers.discard(self)


READ_AFTER = text(
    "SELECT seq, tenant_id, type, data FROM events WHERE seq > :after ORDER BY seq LIMIT :limit"
)
NEWEST = text("SELECT coalesce(max(seq), 0) FROM events")


class EventHub:
    """This instance's outbox reader and its subscribers."""

    def __init__(self, db: Database, *, gap_grace: float = DEFAULT_EVENT_GAP_GRACE) -> None:
        self.db = db
        self.gap_grace = gap_grace
        self.subscribers: set[Subscriber] = set()
        self.listener: EventListener | None = None
        self.horizon = 0  # every event up to this seq has been read or given up
        self.ready = asyncio.Event()  # set once `horizon` starts from the newest event
        self.gap: tuple[int, float] | None = None  # the missing seq waited for, and since
        self.reader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._advanced = asyncio.Event()

    def subscribe(self, kind: Kind, tenant_id: str, row_id: str | None = None) -> Subscriber:
        subscriber = Subscriber(self, kind, tenant_id, row_id)
        self.subscribers.add(subscriber)
        return subscriber

    def advanced(self) -> asyncio.Event:
        """Set the next time `horizon` moves: taken before reading up to the horizon, it
        cannot miss a move made meanwhile."""
        return self._advanced

    def wake(self) -> None:
        self._wake.set()

    def dispatch(self, changes: Sequence[Change]) -> None:
        for subscriber in list(self.subscribers):
            for item in changes:
                if subscriber.wants(item):
                    subscriber.offer(item)

    def resync(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(RESYNC)

    async def start(self) -> None:
        # A database that is down must not keep the instance from starting: the reader
        # then finds the newest event once it can.
        with suppress(Exception):
            await self._start_from_newest()
        self.reader = asyncio.create_task(self._read_loop(), name="invoicepay-event-reader")
        if self.db.is_sqlite:
            _local_hubs.setdefault(str(self.db.engine.url), set()).add(self)
            return
        self.listener = EventListener(self.db.url, self)
        self.listener.start()
        # Serve once listening, so a fresh instance is woken from the start; a database
        # that is down must not keep the instance from starting, though (the poll reads).
        with suppress(TimeoutError):
            await asyncio.wait_for(self.listener.connected.wait(), START_WAIT_SECONDS)

    async def stop(self) -> None:
        _local_hubs.get(str(self.db.engine.url), set()).discard(self)
        if self.listener is not None:
            await self.listener.stop()
        if self.reader is not None:
            self.reader.cancel()
            with suppress(asyncio.CancelledError):
                await self.reader

    async def _start_from_newest(self) -> None:
        async with self.db.engine.connect() as connection:
            self.horizon = int((await connection.execute(NEWEST)).scalar_one())
        self.ready.set()

    async def _read_loop(self) -> None:
        while True:
            self._wake.clear()  # before reading: a wake-up during the read reads again
            began = time.monotonic()
            waiting = False
            try:
                if not self.ready.is_set():
                    await self._start_from_newest()
                waiting = await self.catch_up()
            except Exception as error:  # the database away: the next poll tries again
                log.warning("event reader: %s", type(error).__name__)
            with suppress(TimeoutError):
                pause = GAP_RECHECK_SECONDS if waiting else POLL_SECONDS
                await asyncio.wait_for(self._wake.wait(), pause)
            await asyncio.sleep(max(0.0, began + READ_SPACING_SECONDS - time.monotonic()))

    async def catch_up(self) -> bool:
        """Read and hand out every event after `horizon` that follows it without a gap;
        True while a gap is waited for."""
        while True:
            async with self.db.engine.connect() as connection:
                found = (
                    await connection.execute(READ_AFTER, {"after": self.horizon, "limit": BATCH})
                ).all()
            run = _prefix(found, self.horizon)
            if run:
                self._hand_out(run)
            if len(run) < len(found):
                if not self._skipped_gap(found[len(run)].seq):
                    return True
                continue
            if len(found) < BATCH:
                return False

    def _skipped_gap(self, next_seq: int) -> bool:
        """Skip the seqs missing before `next_seq` if they were waited for long enough."""
        missing, now = self.horizon + 1, time.monotonic()
        if self.gap is None or self.gap[0] != missing:
            self.gap = (missing, now)
        if now - self.gap[1] < self.gap_grace:
            return False
        log.warning("event reader: seq %d-%d never committed; skipped", missing, next_seq - 1)
        self.gap = None
        self._advance(next_seq - 1)
        self.resync()
        return True

    def _hand_out(self, rows: Sequence[Any]) -> None:
        for row in rows if self.subscribers else ():  # no row subscriber: nothing to parse
            try:
                changes = changes_of(row.tenant_id, row.type, json.loads(row.data))
            except (ValueError, KeyError, TypeError):
                log.error("event reader: event seq %d names no rows it should", row.seq)
                changes = []
            self.dispatch(changes)
        self._advance(rows[-1].seq)

    def _advance(self, seq: int) -> None:
        self.horizon = seq
        self.gap = None
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()


def _prefix(rows: Sequence[Any], after: int) -> Sequence[Any]:
    """The rows that follow `after` without a gap (rows in seq order)."""
    count = 0
    while count < len(rows) and rows[count].seq == after + 1 + count:
        count += 1
    return rows[:count]


class EventListener:
    """One dedicated LISTEN connection per instance, whose NOTIFYs wake the reader.
    Reconnects with backoff when the connection is lost (a database restart); each
    (re)connection wakes the reader, for whatever was announced while nobody listened."""

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
            self.hub.wake()
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), PING_SECONDS)
                except TimeoutError:
                    await connection.fetchval("SELECT 1", timeout=PING_SECONDS)
        finally:
            connection.terminate()

    def _received(self, _connection: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.hub.wake()  # the payload (the newest seq) is a hint only: the table is read
