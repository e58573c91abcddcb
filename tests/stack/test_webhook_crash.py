"""Webhooks survive a crash: `invoicepay serve` SIGKILLed with 50 payments in flight and
their deliveries pending (the receiver slow and failing), then restarted, delivers every
committed payment's `payment.succeeded` at least once, signed, and nothing for a payment
that did not commit (the outbox: the event commits with the payment or not at all)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.db.engine import Database
from tests.support import PAY, invoice, make_world
from tests.support.crash import orphans_finished, stored_payments
from tests.support.figures import report
from tests.support.live import LiveServer, live_server
from tests.support.receiver import Receiver, Request, eventually, receiver

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

PAYMENTS = 50
EARLIER = [8990, 8991, 8992]  # paid before the burst: their deliveries pending at the kill
CLIENT_TIMEOUT_SECONDS = 20
# Work the dead server had claimed is due again when its lease (12 s) runs out, then
# taken within a poll: 15 s by the contract, with room for a loaded machine.
DELIVERED_WITHIN_SECONDS = 45
RETRIES = ",".join(["1"] * 60)  # a failing receiver never exhausts them during the test

CREATE_ENDPOINT = """
mutation Create($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    __typename
    ... on CreateWebhookEndpointSuccess { secret }
  }
}
"""


async def create_endpoint(server: LiveServer, admin_token: str, url: str) -> str:
    """The admin subscribes `url` to payment.succeeded over the served API; its secret."""
    request = {"url": url, "eventTypes": ["payment.succeeded"]}
    async with server.client(timeout=CLIENT_TIMEOUT_SECONDS) as client:
        response = await client.post(
            "/graphql",
            json={"query": CREATE_ENDPOINT, "variables": {"input": request}},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    answer = response.json()["data"]["createWebhookEndpoint"]
    assert answer["__typename"] == "CreateWebhookEndpointSuccess", answer
    secret: str = answer["secret"]
    return secret


async def pay(client: httpx.AsyncClient, token: str, number: int) -> str | None:
    """Pay invoice `number` in full with its own idempotency key; the payment id if paid."""
    request = {"invoiceNumber": number, "currency": "NGN", "idempotencyKey": f"k{number}"}
    response = await client.post(
        "/graphql",
        json={"query": PAY, "variables": {"input": request}},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer = response.json()["data"]["payInvoice"]
    return answer["payment"]["id"] if answer["__typename"] == "PayInvoiceSuccess" else None


class Outage:
    """The receiver's script: 500 after a slow second while `failing`, then 200; it notes
    each event id answered 2xx (a delivery) and every 2xx answered (to count duplicates)."""

    def __init__(self, hook: Receiver) -> None:
        self.hook = hook
        self.failing = True
        self.delivered: Counter[str] = Counter()
        hook.answer = self.answer
        hook.delay = 1.0

    def answer(self, request: Request) -> int:
        if self.failing:
            return 500
        self.delivered[request.headers["webhook-id"]] += 1
        return 200

    def recover(self) -> None:
        self.failing = False
        self.hook.delay = 0.0


async def test_a_server_killed_with_deliveries_pending_delivers_every_committed_payment(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    # given invoices of 10.00 NGN for Ada, a receiver that is slow and failing, and
    # payments whose deliveries it was already sent (pending: it failed them)
    world = await make_world(db)
    numbers = list(range(9000, 9000 + PAYMENTS))
    for number in [*EARLIER, *numbers]:
        await invoice(db, number, world.ada, "10")
    served = live_server(
        database_url,
        log_path=tmp_path / "server.log",
        WEBHOOK_ALLOW_PRIVATE="on",
        WEBHOOK_RETRY_SCHEDULE=RETRIES,
    )
    async with receiver() as hook, served as server:
        outage = Outage(hook)
        secret = await create_endpoint(server, world.admin_token, hook.url)
        async with server.client(timeout=CLIENT_TIMEOUT_SECONDS) as client:
            earlier = {await pay(client, world.ada_token, number) for number in EARLIER}
            await eventually(lambda: len(hook.requests) > 0, 15)
            # when 50 payments are in flight and the server is SIGKILLed after 5 answers
            # (most not yet at the database)
            attempts = [asyncio.create_task(pay(client, world.ada_token, n)) for n in numbers]
            await eventually(lambda: sum(a.done() for a in attempts) >= 5, 60)
            server.kill()
            await server.wait_dead()
            outcomes = await asyncio.gather(*attempts, return_exceptions=True)
        assert all(isinstance(o, str | None | httpx.TransportError) for o in outcomes), outcomes
        acknowledged = {o for o in outcomes if isinstance(o, str)}
        await orphans_finished(db)
        committed = set(await stored_payments(db))
        assert None not in earlier and earlier | acknowledged <= committed
        assert len(committed) < len(EARLIER) + PAYMENTS, "the kill must fall mid-burst"
        before_restart = len(hook.requests)

        # and the receiver recovers and the server is started again
        outage.recover()
        await server.start()

        # then within a bounded time every committed payment's event is delivered
        await eventually(lambda: len(outage.delivered) >= len(committed), DELIVERED_WITHIN_SECONDS)
        await asyncio.sleep(1.5)  # a poll more: nothing else may arrive

    paid_in = {json.loads(r.body)["data"]["payment"]["id"] for r in hook.requests}
    assert paid_in == committed  # every committed payment's event, none for another
    assert len(outage.delivered) == len(committed)
    verifier = Webhook(secret)
    for request in hook.requests:
        verifier.verify(request.body, request.headers)  # raises if a signature is wrong
        assert json.loads(request.body)["type"] == "payment.succeeded"
    duplicates = sum(outage.delivered.values()) - len(outage.delivered)
    backend = "sqlite" if db.is_sqlite else "postgresql"
    report(
        f"webhooks: serve SIGKILLed with deliveries pending ({backend})",
        f"{PAYMENTS} payments in flight: {len(acknowledged)} answered; {len(committed)}"
        f" committed in all ({len(EARLIER)} before the burst); {before_restart} failed"
        f" POSTs before the kill; after restart"
        f" {len(outage.delivered)} delivered, {duplicates} duplicates; none uncommitted",
    )
