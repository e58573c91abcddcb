"""The dispatcher against real receivers on loopback: one signed POST per event as the
Standard Webhooks specification has it, retries with the same `webhook-id`, every attempt
recorded, redirects not followed, both signatures during a rotation, endpoints disabled
after 10 failed events in a row, and the address checked again at delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from prometheus_client import REGISTRY
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.db.engine import Database
from app.db.models import WebhookDelivery, WebhookEndpoint, utcnow
from app.db.uow import UnitOfWork
from app.webhooks import endpoints
from app.webhooks.dispatcher import Dispatcher
from tests.support import DEMO_CLONE, make_world
from tests.support.live import free_port
from tests.support.receiver import Receiver, eventually, receiver
from tests.support.webhooks import dispatcher, given_endpoint, given_events, rows, settle

COUNTER = "invoicepay_webhook_deliveries_total"


@asynccontextmanager
async def running(worker: Dispatcher) -> AsyncIterator[Dispatcher]:
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def test_one_event_is_one_post_signed_with_the_endpoint_secret(db: Database) -> None:
    # given an endpoint on a receiver and one event of its type
    await make_world(db)
    async with receiver() as hook:
        endpoint_id, secret = await given_endpoint(db, hook.url)
        [event] = await given_events(db, amount="12.50")
        # when the dispatcher runs
        await settle(dispatcher(db))
        # then exactly one POST, whose signature verifies with the secret
        assert len(hook.requests) == 1
        request = hook.requests[0]
        assert request.method == "POST" and request.path == "/hook"
        assert request.headers["webhook-id"] == event.id
        assert request.headers["content-type"] == "application/json"
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["type"] == "invoice.created"
        assert payload["data"] == {"n": 0, "amount": "12.50", "id": event.id}
        assert payload["timestamp"].startswith(str(event.created_at.year))
        # and a tampered body does not verify
        try:
            Webhook(secret).verify(request.body + b" ", request.headers)
            raise AssertionError("a changed body verified")
        except WebhookVerificationError:
            pass
    assert await rows(
        db, "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = :e", e=endpoint_id
    ) == [("SUCCEEDED", 1)]


async def test_a_receiver_failing_twice_gets_three_attempts_with_the_same_id(
    db: Database,
) -> None:
    # given a receiver that answers 500 twice, then 200
    await make_world(db)
    async with receiver([500, 500]) as hook:
        endpoint_id, _ = await given_endpoint(db, hook.url)
        [event] = await given_events(db)
        # when the dispatcher runs through the short retry schedule
        await settle(dispatcher(db))
        # then three POSTs, all with the event's id
        assert hook.ids() == [event.id] * 3
    # and every attempt is recorded, with at most 1 KiB of what came back
    attempts = await rows(
        db,
        "SELECT attempt, status, response_status, length(response_body), error"
        " FROM webhook_attempts ORDER BY id",
    )
    assert attempts == [
        (1, "FAILED", 500, 1024, "HTTP 500"),
        (2, "FAILED", 500, 1024, "HTTP 500"),
        (3, "SUCCEEDED", 200, 8, None),
    ]
    assert await rows(db, "SELECT status, attempts FROM webhook_deliveries") == [("SUCCEEDED", 3)]
    page = await endpoints.deliveries_page(db, endpoint_id, None, 10)
    assert [(d.row.attempts, d.last_attempt and d.last_attempt.response_status) for d in page] == [
        (3, 200)
    ]


async def test_a_delivery_fails_for_good_after_its_last_attempt(db: Database) -> None:
    await make_world(db)
    async with receiver([500] * 10) as hook:
        await given_endpoint(db, hook.url)
        await given_events(db)
        await settle(dispatcher(db, (0.05,)))
        assert len(hook.requests) == 2
    assert await rows(db, "SELECT status, attempts, next_attempt_at FROM webhook_deliveries") == [
        ("FAILED", 2, None)
    ]


async def test_a_receiver_down_then_up_receives_every_event(db: Database) -> None:
    # given an endpoint whose receiver is not listening yet
    await make_world(db)
    port = free_port()
    await given_endpoint(db, f"http://127.0.0.1:{port}/hook")
    events = await given_events(db, 5)
    async with running(dispatcher(db, (0.1,) * 50)):
        # and the first attempts of every event fail
        for _ in range(100):
            failed = await rows(db, "SELECT count(DISTINCT event_seq) FROM webhook_attempts")
            if failed[0][0] == 5:
                break
            await asyncio.sleep(0.05)
        assert failed[0][0] == 5
        # when the receiver comes up
        hook = Receiver([])
        server = await asyncio.start_server(hook.serve, "127.0.0.1", port)
        hook.port = port
        async with server:
            # then it receives every event, once
            await eventually(lambda: len(hook.requests) >= 5, 15)
            server.close()
    assert sorted(hook.ids()) == sorted(event.id for event in events)


async def test_a_redirect_is_a_failure_and_is_not_followed(db: Database) -> None:
    await make_world(db)
    async with receiver([302]) as hook:
        hook.location = f"http://127.0.0.1:{hook.port}/elsewhere"
        await given_endpoint(db, hook.url)
        await given_events(db)
        await settle(dispatcher(db))
        assert [r.path for r in hook.requests] == ["/hook", "/hook"]
    attempts = await rows(db, "SELECT response_status, error FROM webhook_attempts ORDER BY id")
    assert attempts == [(302, "HTTP 302 (redirects are not followed)"), (200, None)]


async def test_after_a_rotation_both_secrets_verify_for_24_hours(db: Database) -> None:
    # given an endpoint whose secret was rotated
    await make_world(db)
    async with receiver() as hook:
        endpoint_id, old = await given_endpoint(db, hook.url)
        _, new = await endpoints.rotate_secret(db, DEMO_CLONE, endpoint_id)
        assert new != old
        await given_events(db)
        # when an event is delivered
        await settle(dispatcher(db))
        # then it carries two signatures, and each secret verifies it
        [request] = hook.requests
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):
            Webhook(secret).verify(request.body, request.headers)
    # and after the overlap (moved to now) only the new secret signs
    async with receiver() as later:
        await endpoints.update_endpoint(
            db, DEMO_CLONE, endpoint_id, endpoints.Changes(url=later.url), allow_private=True
        )
        async with UnitOfWork(db, write=True) as uow:
            row = await uow.session.get(WebhookEndpoint, endpoint_id)
            assert row is not None
            row.previous_secret_until = utcnow()
            uow.session.add(row)
            await uow.commit()
        await given_events(db)
        await settle(dispatcher(db))
        [request] = later.requests
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(request.body, request.headers)


async def test_ten_failed_events_in_a_row_disable_the_endpoint_once(db: Database) -> None:
    # given a receiver that always fails, and a schedule of one retry
    await make_world(db)
    async with receiver() as hook:
        hook.answer = lambda _request: 500
        endpoint_id, _ = await given_endpoint(
            db, hook.url, ("invoice.created", "webhook_endpoint.disabled")
        )
        # when nine events fail, the endpoint still takes deliveries
        await given_events(db, 9)
        await settle(dispatcher(db, (0.05,)))
        assert await rows(db, "SELECT enabled, failed_events FROM webhook_endpoints") == [(True, 9)]
        # and the tenth disables it, and records webhook_endpoint.disabled once
        await given_events(db, 1)
        await settle(dispatcher(db, (0.05,)))
        assert await rows(db, "SELECT enabled, failed_events FROM webhook_endpoints") == [
            (False, 10)
        ]
        disabled = await rows(
            db, "SELECT data FROM events WHERE type = 'webhook_endpoint.disabled'"
        )
        assert len(disabled) == 1
        assert json.loads(disabled[0][0])["webhook_endpoint"]["id"] == endpoint_id
        posts = len(hook.requests)
        # then while disabled, nothing is sent
        await given_events(db, 1)
        await settle(dispatcher(db, (0.05,)))
        assert len(hook.requests) == posts
        # when it is enabled again, its count starts anew and it takes new events
        hook.answer = lambda _request: 200
        await endpoints.update_endpoint(
            db, DEMO_CLONE, endpoint_id, endpoints.Changes(enabled=True), allow_private=True
        )
        assert await rows(db, "SELECT enabled, failed_events FROM webhook_endpoints") == [(True, 0)]
        [event] = await given_events(db, 1)
        await settle(dispatcher(db, (0.05,)))
        assert event.id in hook.ids()


async def test_an_address_refused_at_delivery_is_never_contacted(db: Database) -> None:
    # given an endpoint on loopback, saved while private addresses were allowed
    await make_world(db)
    async with receiver() as hook:
        await given_endpoint(db, hook.url)
        await given_events(db)
        # when a dispatcher that allows none delivers (as after DNS rebinding)
        await settle(dispatcher(db, (0.05,), allow_private=False))
        # then the receiver saw nothing, and the attempts say why
        assert hook.requests == []
    errors = await rows(db, "SELECT error FROM webhook_attempts ORDER BY id")
    assert len(errors) == 2
    assert all("forbidden address (127.0.0.1)" in error for (error,) in errors)


async def test_redelivery_makes_a_delivered_event_due_again(db: Database) -> None:
    await make_world(db)
    async with receiver() as hook:
        endpoint_id, _ = await given_endpoint(db, hook.url)
        [event] = await given_events(db)
        await settle(dispatcher(db))
        delivery = await endpoints.redeliver(db, DEMO_CLONE, endpoint_id, event.id)
        assert delivery.row.status == "PENDING"
        await settle(dispatcher(db))
        assert hook.ids() == [event.id, event.id]
    assert await rows(db, "SELECT status, attempts FROM webhook_deliveries") == [("SUCCEEDED", 2)]


async def test_metrics_count_outcomes_and_the_queue_age(db: Database) -> None:
    await make_world(db)
    labels = ("succeeded", "retrying", "failed")
    before = {o: REGISTRY.get_sample_value(COUNTER, {"outcome": o}) or 0 for o in labels}
    async with receiver([500]) as hook:
        await given_endpoint(db, hook.url)
        await given_events(db)
        # a delivery due a minute ago: the queue is a minute old
        async with UnitOfWork(db, write=True) as uow:
            row = (await uow.session.exec(select(WebhookDelivery))).one()
            row.next_attempt_at = utcnow() - timedelta(seconds=60)
            uow.session.add(row)
            await uow.commit()
        worker = dispatcher(db, (0.05,))
        await worker.claim(0)
        assert (REGISTRY.get_sample_value("invoicepay_webhook_queue_age_seconds") or 0) >= 60
        await settle(worker)
    after = {o: REGISTRY.get_sample_value(COUNTER, {"outcome": o}) or 0 for o in labels}
    assert {o: after[o] - before[o] for o in labels} == {"succeeded": 1, "retrying": 1, "failed": 0}
    assert await worker.claim(8) == []  # nothing due: the queue has no age
    assert REGISTRY.get_sample_value("invoicepay_webhook_queue_age_seconds") == 0
