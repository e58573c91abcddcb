"""`invoicepay serve` sends webhooks by itself: a real server process whose dispatcher
(started in the app's lifespan) POSTs an event to a receiver on loopback within 5 s of its
commit; with WEBHOOK_DISPATCHER=off it sends nothing."""

from __future__ import annotations

import asyncio

import pytest

from app.db.engine import Database
from tests.support import make_world
from tests.support.figures import report
from tests.support.live import live_server
from tests.support.receiver import eventually, receiver
from tests.support.webhooks import given_endpoint, given_events


@pytest.mark.slow
async def test_a_served_app_delivers_an_event_within_5_seconds_of_its_commit(
    database_url: str, db: Database
) -> None:
    await make_world(db)
    async with receiver() as hook, live_server(database_url):
        await given_endpoint(db, hook.url)
        started = asyncio.get_running_loop().time()
        [event] = await given_events(db)
        await eventually(lambda: len(hook.requests) == 1, 5)
        elapsed = asyncio.get_running_loop().time() - started
        assert hook.ids() == [event.id]
    report(f"webhooks: commit to first POST by serve ({db.url.split(':')[0]})", f"{elapsed:.2f} s")


@pytest.mark.slow
async def test_with_the_dispatcher_off_serve_sends_nothing(database_url: str, db: Database) -> None:
    await make_world(db)
    async with receiver() as hook, live_server(database_url, WEBHOOK_DISPATCHER="off"):
        await given_endpoint(db, hook.url)
        await given_events(db)
        await asyncio.sleep(2.5)
        assert hook.requests == []
