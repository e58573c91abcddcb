"""A rate-limit Redis that stops answering (blackholed: the connection is taken, nothing
comes back) costs a payment at most the Redis timeout: it is answered 503 and pays
nothing, on both edges."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.db.engine import Database
from app.db.unavailable import SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_CODE
from app.http.rate_windows import REDIS_TIMEOUT_SECONDS
from tests.support import client_for, invoice, make_world, rest_pay, snapshot

MARGIN_SECONDS = 1.5  # a loaded test machine's scheduling, not the design
PAY = """mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { __typename } }"""


@pytest.fixture
async def blackhole() -> AsyncIterator[str]:
    """A redis:// URL on loopback whose server accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def pay(client: httpx.AsyncClient, edge: str, token: str) -> httpx.Response:
    if edge == "rest":
        body = {"invoice": 100123, "currency": "NGN"}
        return await rest_pay(client, body, token)
    variables: dict[str, Any] = {
        "input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "5000"}
    }
    return await client.post(
        "/graphql",
        json={"query": PAY, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.mark.parametrize("edge", ["rest", "graphql"])
async def test_a_blackholed_rate_limit_redis_is_a_quick_503_and_pays_nothing(
    db: Database, blackhole: str, edge: str
) -> None:
    # given limits kept in a Redis that takes the connection and never answers
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    before = await snapshot(db)
    async with client_for(db, rate_limit_storage_url=blackhole) as client:
        # when Ada pays
        started = time.monotonic()
        answer = await pay(client, edge, world.ada_token)
        seconds = time.monotonic() - started
    # then she is told to retry within the Redis timeout, and nothing was written
    assert seconds < REDIS_TIMEOUT_SECONDS + MARGIN_SECONDS, seconds
    assert answer.status_code == 503, answer.text
    body = answer.json()
    if edge == "rest":
        assert body["message"] == SERVICE_UNAVAILABLE
        assert answer.headers["Retry-After"] == "1"
    else:
        [error] = body["errors"]
        assert error["extensions"]["code"] == SERVICE_UNAVAILABLE_CODE
    assert await snapshot(db) == before
