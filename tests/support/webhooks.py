"""Builders for the webhook tests: an endpoint on a loopback receiver, events recorded as
a change records them, and a dispatcher with a short retry schedule."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from app.cli.helptext import EXAMPLE_ENDPOINT_ID, EXAMPLE_EVENT_ID
from app.db.engine import Database
from app.db.models import Event, WebhookEndpoint, utcnow
from app.db.uow import UnitOfWork
from app.events.outbox import record
from app.webhooks import endpoints
from app.webhooks.dispatcher import Dispatcher
from app.webhooks.signing import new_secret
from tests.support import DEMO_CLONE, test_settings

FAST = (0.05, 0.05)  # seconds between attempts: three in all


async def given_endpoint(
    db: Database, url: str, types: tuple[str, ...] = ("invoice.created",)
) -> tuple[str, str]:
    """An endpoint of the demo tenant at `url`; its id and secret."""
    endpoint, secret = await endpoints.create_endpoint(
        db, DEMO_CLONE, url, list(types), None, allow_private=True
    )
    return endpoint.row.id, secret


async def given_events(
    db: Database, count: int = 1, type_: str = "invoice.created", **data: Any
) -> list[Event]:
    made = []
    async with UnitOfWork(db, write=True) as uow:
        for n in range(count):
            made.append(await record(uow.session, DEMO_CLONE, type_, {"n": n, **data}, utcnow()))
        await uow.commit()
    return made


def dispatcher(
    db: Database,
    schedule: tuple[float, ...] = FAST,
    *,
    allow_private: bool = True,
    poll: float = 0.02,
) -> Dispatcher:
    settings = test_settings(
        db.url, webhook_retry_schedule=schedule, webhook_allow_private=allow_private
    )
    return Dispatcher(db, settings, poll=poll)


async def rows(db: Database, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with UnitOfWork(db) as uow:
        connection = await uow.session.connection()
        return [tuple(row) for row in (await connection.execute(text(sql), params)).all()]


async def settle(worker: Dispatcher, seconds: float = 10.0) -> None:
    """Run the dispatcher's rounds until no delivery of an enabled endpoint is pending
    (retries come due after the short schedule), then close it."""
    deadline = asyncio.get_running_loop().time() + seconds
    pending = "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e"
    pending += " ON e.id = d.endpoint_id WHERE d.status = 'PENDING' AND e.enabled"
    while asyncio.get_running_loop().time() < deadline:
        await worker.run_once()
        if (await rows(worker.db, pending)) == [(0,)]:
            break
        await asyncio.sleep(0.02)
    await worker.aclose()


def given_example_webhook(database_url: str) -> None:
    """The endpoint and event `invoicepay webhooks --help` names, in the demo tenant: the
    endpoint disabled, so that running the examples sends nothing anywhere."""

    async def add() -> None:
        db = Database(database_url)
        try:
            async with UnitOfWork(db, write=True) as uow:
                now = utcnow()
                uow.session.add(
                    WebhookEndpoint(
                        id=EXAMPLE_ENDPOINT_ID,
                        tenant_id=DEMO_CLONE,
                        url="https://hooks.example.com/invoicepay",
                        enabled=False,
                        secret=new_secret(),
                        created_at=now,
                        updated_at=now,
                    )
                )
                uow.session.add(
                    Event(
                        id=EXAMPLE_EVENT_ID,
                        tenant_id=DEMO_CLONE,
                        type="invoice.created",
                        data="{}",
                        created_at=now,
                    )
                )
                await uow.commit()
        finally:
            await db.dispose()

    asyncio.run(add())
