"""The dispatcher keeps up with a busy instance: woken by its outbox reader as soon as new
events commit (not on its next poll), and sending 32 POSTs at once."""

from __future__ import annotations

import asyncio

from app.db.engine import Database
from app.events.hub import EventHub
from app.webhooks.dispatcher import CONCURRENCY, Dispatcher
from app.webhooks.sender import TIMEOUT
from tests.support import make_world
from tests.support import test_settings as settings_for
from tests.support.receiver import eventually, receiver
from tests.support.webhooks import given_endpoint, given_events


async def test_an_event_is_sent_as_soon_as_the_reader_passes_it_not_at_the_next_poll(
    db: Database,
) -> None:
    await make_world(db)
    hub = EventHub(db)
    await hub.start()
    # A poll far longer than the wait below: only the reader's wake-up can send in time.
    worker = Dispatcher(db, settings_for(db.url, webhook_allow_private=True), poll=60, events=hub)
    try:
        async with receiver() as hook:
            await given_endpoint(db, hook.url)
            await worker.start()
            await asyncio.sleep(0.2)  # its first round found nothing: it waits now
            [event] = await given_events(db)
            await eventually(lambda: len(hook.requests) == 1, 3)
            assert hook.ids() == [event.id]
            await worker.stop()
    finally:
        await worker.aclose()
        await hub.stop()


async def test_32_posts_are_under_way_at_once(db: Database) -> None:
    await make_world(db)
    worker = Dispatcher(db, settings_for(db.url, webhook_allow_private=True), poll=0.05)
    try:
        async with receiver() as hook:
            hook.delay = TIMEOUT / 4  # every answer held back: each POST stays under way
            await given_endpoint(db, hook.url)
            await given_events(db, CONCURRENCY + 8)
            await worker.start()
            # All of them arrive before the first answer; the rest wait for a free slot.
            await eventually(lambda: len(hook.requests) >= CONCURRENCY, hook.delay - 0.5)
            assert CONCURRENCY == 32
            assert len(hook.requests) == CONCURRENCY
            await worker.stop()
    finally:
        await worker.aclose()
