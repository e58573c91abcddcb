"""The dispatcher: in every `invoicepay serve` (app.web's lifespan) and alone as
`invoicepay webhooks run`. It claims due deliveries, as many as it has free slots
(`concurrency`, 32), and POSTs them on one shared httpx client. It looks again as soon as
this instance's outbox reader (`EventHub`) passes new events, and at least every `poll`
seconds (1 by default) for retries coming due and for events only another instance saw.

A claim sets `claimed_until` (a lease of `LEASE`, longer than one POST may take): on
PostgreSQL with `FOR UPDATE SKIP LOCKED`, so instances share the work without taking the
same row; on SQLite the write lock at BEGIN serialises claims. Work a dead instance had
claimed is due again when its lease runs out, so another takes it within 15 s.

Each attempt is recorded with what came back; a failed one is tried again on the retry
schedule, and after its last attempt the delivery is FAILED. The tenth event in a row
whose delivery failed disables the endpoint and records `webhook_endpoint.disabled`.
Once an hour it prunes events older than EVENT_RETENTION_DAYS (app.webhooks.retention).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import bindparam, column, text
from sqlalchemy.sql.elements import TextClause
from sqlmodel import col, select

from app.config import Settings
from app.db.engine import Database
from app.db.models import Event, UTCDateTime, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.db.models import utcnow as _utcnow
from app.db.uow import UnitOfWork
from app.events.hub import EventHub
from app.events.outbox import record
from app.observability import metrics
from app.webhooks import retention
from app.webhooks.endpoints import FAILED, PENDING, SUCCEEDED
from app.webhooks.schedule import next_attempt_at
from app.webhooks.sender import TIMEOUT, Message, Outcome, new_client, send
from app.webhooks.signing import signing_secrets

log = logging.getLogger("invoicepay.webhooks")

LEASE = timedelta(seconds=TIMEOUT + 2)  # one POST and its record; + a poll < 15 s
POLL_SECONDS = 1.0
CONCURRENCY = 32  # POSTs under way at once (and the client's connections)
RECORDING = 4  # attempts recorded at once: the dispatcher's share of the database pool
PRUNE_EVERY = 3600.0  # seconds
DISABLE_AFTER = 10  # consecutive events whose delivery failed


def _statement(sql: str, *times: str) -> TextClause:
    # Times bound as the ORM stores them (naive UTC on SQLite), so they compare in SQL.
    return text(sql).bindparams(*(bindparam(name, type_=UTCDateTime) for name in times))


# Due: pending, its time come, not under another's lease, its endpoint enabled.
OLDEST_DUE = _statement(
    """SELECT min(d.next_attempt_at) AS oldest FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'PENDING' AND d.next_attempt_at <= :now
    AND (d.claimed_until IS NULL OR d.claimed_until < :now) AND e.enabled""",
    "now",
).columns(column("oldest", UTCDateTime))
# SKIP LOCKED: rows another instance is claiming are passed over, never waited on.
CLAIM_POSTGRES = _statement(
    """UPDATE webhook_deliveries w SET claimed_until = :lease
    FROM (SELECT d.endpoint_id, d.event_seq FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.status = 'PENDING' AND d.next_attempt_at <= :now
        AND (d.claimed_until IS NULL OR d.claimed_until < :now) AND e.enabled
        ORDER BY d.next_attempt_at LIMIT :n FOR UPDATE OF d SKIP LOCKED) due
    WHERE w.endpoint_id = due.endpoint_id AND w.event_seq = due.event_seq
    RETURNING w.endpoint_id, w.event_seq""",
    "now",
    "lease",
)
CLAIM_SQLITE = _statement(
    """UPDATE webhook_deliveries SET claimed_until = :lease
    WHERE (endpoint_id, event_seq) IN (SELECT d.endpoint_id, d.event_seq
        FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.status = 'PENDING' AND d.next_attempt_at <= :now
        AND (d.claimed_until IS NULL OR d.claimed_until < :now) AND e.enabled
        ORDER BY d.next_attempt_at LIMIT :n)
    RETURNING endpoint_id, event_seq""",
    "now",
    "lease",
)
COUNT_FAILED = text(
    "UPDATE webhook_endpoints SET failed_events = failed_events + 1 WHERE id = :id"
    " RETURNING failed_events"
)
DISABLE = text(
    "UPDATE webhook_endpoints SET enabled = false WHERE id = :id AND enabled RETURNING id"
)
RESET_FAILED = text("UPDATE webhook_endpoints SET failed_events = 0 WHERE id = :id")


@dataclass(frozen=True)
class Claim:
    tenant_id: str
    endpoint_id: str
    event_seq: int
    message: Message


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        poll: float = POLL_SECONDS,
        concurrency: int = CONCURRENCY,
        client: httpx.AsyncClient | None = None,
        events: EventHub | None = None,
    ) -> None:
        self.db = db
        self.schedule = settings.webhook_retry_schedule
        self.retention_days = settings.event_retention_days
        self.poll = poll
        self.concurrency = concurrency
        self.allow_private = settings.webhook_allow_private
        self._client = client
        self.events = events
        self.recording = asyncio.Semaphore(RECORDING)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.stopping = asyncio.Event()
        self.next_prune = time.monotonic()

    @property
    def client(self) -> httpx.AsyncClient:
        """Made on first use, so an app that never starts its dispatcher opens nothing."""
        if self._client is None:
            self._client = new_client(
                allow_private=self.allow_private, max_connections=self.concurrency
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- running ---------------------------------------------------------------------

    async def start(self) -> None:
        self.stopping.clear()
        self.task = asyncio.create_task(self.run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Stop claiming, let the POSTs under way finish (each within TIMEOUT), close."""
        self.stopping.set()
        if self.task is not None:
            await self.task
            self.task = None
        await self.aclose()

    async def run(self) -> None:
        while not self.stopping.is_set():
            # Taken before the round: events passed while it claims wake the next one.
            advanced = self.events.advanced() if self.events is not None else None
            free = self.concurrency - len(self.in_flight)
            claimed = 0
            try:
                if time.monotonic() >= self.next_prune:
                    self.next_prune = time.monotonic() + PRUNE_EVERY
                    await retention.prune(self.db, self.retention_days)
                claimed = await self.dispatch()
            except Exception:
                log.exception("webhook dispatcher: a round failed; trying again")
            if len(self.in_flight) >= self.concurrency:
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
            elif claimed < free:  # nothing more is due now
                await self._idle(advanced)
        if self.in_flight:
            await asyncio.wait(self.in_flight)

    async def _idle(self, advanced: asyncio.Event | None) -> None:
        """Until stopped, new events are passed, or `poll` seconds are up."""
        waits = [asyncio.create_task(self.stopping.wait())]
        if advanced is not None:
            waits.append(asyncio.create_task(advanced.wait()))
        try:
            await asyncio.wait(waits, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def run_once(self) -> int:
        """Claim what is due, deliver it and wait for every attempt to be recorded."""
        claimed = await self.dispatch()
        if self.in_flight:
            await asyncio.wait(self.in_flight)
        return claimed

    async def dispatch(self) -> int:
        """Claim up to the free slots' worth of due deliveries and start sending them."""
        free = self.concurrency - len(self.in_flight)
        if free <= 0:
            return 0
        claims = await self.claim(free)
        for claim in claims:
            task = asyncio.create_task(self.deliver(claim))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        return len(claims)

    # --- claiming --------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claim]:
        now = _utcnow()
        # A read first: an idle instance never takes SQLite's write lock to find nothing.
        async with UnitOfWork(self.db) as uow:
            connection = await uow.session.connection()
            oldest_due: datetime | None = (
                await connection.execute(OLDEST_DUE, {"now": now})
            ).scalar()
        metrics.WEBHOOK_QUEUE_AGE.set(
            0 if oldest_due is None else max((now - oldest_due).total_seconds(), 0)
        )
        if oldest_due is None:
            return []
        statement = CLAIM_SQLITE if self.db.is_sqlite else CLAIM_POSTGRES
        async with UnitOfWork(self.db, write=True) as uow:
            connection = await uow.session.connection()
            keys = (
                await connection.execute(statement, {"now": now, "lease": now + LEASE, "n": limit})
            ).all()
            claims = await self._messages(uow, [(str(k[0]), int(k[1])) for k in keys], now)
            await uow.commit()
        return claims

    async def _messages(
        self, uow: UnitOfWork, keys: Sequence[tuple[str, int]], now: datetime
    ) -> list[Claim]:
        if not keys:
            return []
        # Two statements for the whole claim, not two lookups a delivery.
        endpoint_ids = {endpoint_id for endpoint_id, _ in keys}
        query = select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))
        endpoints = {row.id: row for row in (await uow.session.exec(query)).all()}
        seqs = [seq for _, seq in keys]
        events = {
            row.seq: row
            for row in (await uow.session.exec(select(Event).where(col(Event.seq).in_(seqs)))).all()
        }
        claims = []
        for endpoint_id, event_seq in keys:
            endpoint, event = endpoints[endpoint_id], events[event_seq]  # their foreign keys
            secrets = signing_secrets(
                endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_until, now
            )
            message = Message(
                event.id, event.type, event.created_at, event.data, endpoint.url, secrets
            )
            claims.append(Claim(endpoint.tenant_id, endpoint_id, event_seq, message))
        return claims

    # --- delivering ------------------------------------------------------------------

    async def deliver(self, claim: Claim) -> None:
        try:
            outcome = await send(self.client, claim.message, _utcnow())
            async with self.recording:
                await self.record_attempt(claim, outcome)
        except Exception:
            # The lease runs out and the delivery is tried again: at least once.
            log.exception("webhook %s: recording an attempt failed", claim.message.event_id)

    async def record_attempt(self, claim: Claim, outcome: Outcome) -> None:
        now = _utcnow()
        async with UnitOfWork(self.db, write=True) as uow:
            session = uow.session
            row = await session.get(WebhookDelivery, (claim.endpoint_id, claim.event_seq))
            if row is None:
                return  # the endpoint was deleted meanwhile
            attempts = row.attempts + 1
            retry_at = None if outcome.ok else next_attempt_at(self.schedule, attempts, now)
            status = SUCCEEDED if outcome.ok else PENDING if retry_at is not None else FAILED
            session.add(
                WebhookAttempt(
                    endpoint_id=claim.endpoint_id,
                    event_seq=claim.event_seq,
                    attempt=attempts,
                    status=SUCCEEDED if outcome.ok else FAILED,
                    response_status=outcome.response_status,
                    response_body=outcome.response_body,
                    duration_ms=outcome.duration_ms,
                    error=outcome.error,
                    next_attempt_at=retry_at,
                    created_at=now,
                )
            )
            row.attempts, row.status, row.next_attempt_at = attempts, status, retry_at
            row.claimed_until, row.updated_at = None, now
            session.add(row)
            await uow.flush()
            if status != PENDING:
                await self._count_event(uow, claim, ok=status == SUCCEEDED, now=now)
            await uow.commit()
        outcome_label = "succeeded" if outcome.ok else "retrying" if retry_at else "failed"
        metrics.WEBHOOK_DELIVERIES.labels(outcome_label).inc()

    async def _count_event(self, uow: UnitOfWork, claim: Claim, *, ok: bool, now: datetime) -> None:
        """An event's delivery ended: a success resets the endpoint's run of failed events;
        the tenth failure in a row disables it, recorded once (only the UPDATE that turns
        `enabled` off records the event)."""
        connection = await uow.session.connection()
        if ok:
            await connection.execute(RESET_FAILED, {"id": claim.endpoint_id})
            return
        failed = (await connection.execute(COUNT_FAILED, {"id": claim.endpoint_id})).scalar_one()
        if failed < DISABLE_AFTER:
            return
        if (await connection.execute(DISABLE, {"id": claim.endpoint_id})).first() is None:
            return
        endpoint = await uow.session.get(WebhookEndpoint, claim.endpoint_id)
        assert endpoint is not None
        await uow.session.refresh(endpoint)
        data = {
            "webhook_endpoint": {
                "id": endpoint.id,
                "url": endpoint.url,
                "description": endpoint.description,
                "enabled": False,
                "failed_events": failed,
            }
        }
        await record(uow.session, claim.tenant_id, "webhook_endpoint.disabled", data, now)
        log.warning("webhook endpoint %s disabled after %d failed events", endpoint.id, failed)
