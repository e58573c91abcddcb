"""Builders for the outbox tests: a webhook endpoint taking given event types, rows read
back with plain SQL."""

from __future__ import annotations

from sqlalchemy import text

from app.db.engine import Database
from app.db.models import WebhookEndpoint, WebhookSubscription, new_id
from app.db.uow import UnitOfWork


async def given_endpoint(db: Database, tenant_id: str, types: list[str], enabled: bool) -> str:
    async with UnitOfWork(db, write=True) as uow:
        endpoint = WebhookEndpoint(
            id=new_id("whe"),
            tenant_id=tenant_id,
            url="https://example.test/hook",
            enabled=enabled,
            secret="whsec_" + "A" * 44,
        )
        uow.session.add(endpoint)
        await uow.flush()
        for type_ in types:
            uow.session.add(
                WebhookSubscription(endpoint_id=endpoint.id, tenant_id=tenant_id, event_type=type_)
            )
        await uow.commit()
    return endpoint.id


async def rows(db: Database, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with UnitOfWork(db) as uow:
        connection = await uow.session.connection()
        return [tuple(row) for row in (await connection.execute(text(sql), params)).all()]
