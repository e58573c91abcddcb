"""Idle websockets are not free to hold: a socket that never sends `connection_init` is
closed with 4408 after WS_INIT_TIMEOUT, and open sockets are capped per client address
(WS_MAX_PER_CLIENT) and in all (WS_MAX_CONNECTIONS), the upgrade refused beyond a cap.
Real websocket clients against the app served by uvicorn in this process; one test
against `invoicepay serve`, configured through the environment."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Response

from app.config import ConfigError, Settings
from app.db.engine import Database
from app.http.websocket_limits import TOO_MANY_CONNECTIONS, WebSocketLimit
from app.web import create_app
from tests.support import PROTOCOL
from tests.support import test_settings as settings_for
from tests.support.live import live_server
from tests.support.websocket import uvicorn_serving

# Nothing here reads the database; one backend is enough.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
INIT_TIMEOUT = 0.3  # seconds: the test-shortened WS_INIT_TIMEOUT
WALLET = {"query": 'subscription { walletUpdated(currency: "NGN") { currency } }'}
PROXY = "127.0.0.1"  # the test client's address, trusted as a proxy so it can name clients


def socket(url: str, client: str = "203.0.113.1") -> connect:
    """A websocket from `client` (forwarded by the trusted proxy the test is)."""
    headers = {"X-Forwarded-For": client}
    return connect(url, subprotocols=[PROTOCOL], additional_headers=headers)


async def refused(url: str, client: str = "203.0.113.1") -> Response:
    """The HTTP answer to an upgrade from `client` that must be refused."""
    with pytest.raises(InvalidStatus) as refusal:
        async with socket(url, client):
            pass
    return refusal.value.response


@dataclass
class Served:
    url: str
    limit: WebSocketLimit

    def socket(self, client: str = "203.0.113.1") -> connect:
        return socket(self.url, client)

    async def refused(self, client: str = "203.0.113.1") -> Response:
        return await refused(self.url, client)

    async def released(self, client: str, left: int) -> None:
        """Wait until the server has let go of closed sockets: `client` holds `left`."""
        for _ in range(500):  # five seconds at most
            if self.limit.by_client.get(client, 0) == left:
                return
            await asyncio.sleep(0.01)
        pytest.fail(f"{client} still holds {self.limit.by_client.get(client, 0)} sockets")


@asynccontextmanager
async def serving(db: Database, **overrides: Any) -> AsyncIterator[Served]:
    """The app on `db`, served by uvicorn in this process, and its websocket limit."""
    settings = settings_for(db.url, trusted_proxies=(PROXY,), **overrides)
    app = create_app(settings, db=db)
    limit = next(route.app for route in app.routes if isinstance(route, WebSocketRoute))
    assert isinstance(limit, WebSocketLimit)
    async with uvicorn_serving(app) as port:
        yield Served(f"ws://127.0.0.1:{port}/graphql", limit)


async def init(socket: ClientConnection) -> None:
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"type": "connection_ack"}


async def close_code(socket: ClientConnection) -> int | None:
    """Wait for the server to close `socket`; the code it closed with."""
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 10)
    return closed.value.rcvd.code if closed.value.rcvd else None


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def refused_as_too_many(answer: Response, status: int) -> None:
    assert answer.status_code == status
    assert answer.headers["x-error-code"] == TOO_MANY_CONNECTIONS
    assert answer.body is not None, "the refusal has a body"
    error = json.loads(answer.body)["errors"][0]
    assert error["extensions"]["code"] == TOO_MANY_CONNECTIONS, error


@SQLITE_ONLY
async def test_a_socket_that_never_sends_connection_init_is_closed_with_4408(
    db: Database,
) -> None:
    timeouts = sample("invoicepay_websocket_init_timeouts_total")
    async with serving(db, ws_init_timeout=INIT_TIMEOUT) as served:
        # given a socket that connects and then says nothing
        started = time.perf_counter()
        async with served.socket() as socket:
            # then the server closes it with 4408 once the timeout has passed
            assert await close_code(socket) == 4408
        waited = time.perf_counter() - started
        assert INIT_TIMEOUT <= waited < INIT_TIMEOUT + 2
        await served.released("203.0.113.1", 0)
    assert sample("invoicepay_websocket_init_timeouts_total") == timeouts + 1


@SQLITE_ONLY
async def test_a_socket_that_sends_connection_init_in_time_keeps_working(db: Database) -> None:
    async with serving(db, ws_init_timeout=INIT_TIMEOUT) as served, served.socket() as socket:
        # given a socket initialised within the timeout
        await init(socket)
        # when it stays quiet for longer than the timeout
        await asyncio.sleep(INIT_TIMEOUT * 3)
        # then it is still open and answered
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"type": "pong"}
        query = {"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }"}}
        await socket.send(json.dumps(query))
        answer = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert answer == {"id": "1", "type": "next", "payload": {"data": {"__typename": "Query"}}}


@SQLITE_ONLY
async def test_an_address_may_hold_only_its_share_of_sockets(db: Database) -> None:
    refused = sample("invoicepay_websocket_refused_total", cap="client")
    async with serving(db, ws_max_per_client=2) as served, AsyncExitStack() as stack:
        # given an address holding its two sockets
        first = await stack.enter_async_context(served.socket("203.0.113.7"))
        await stack.enter_async_context(served.socket("203.0.113.7"))
        # then a third from it is refused with 429, before the upgrade
        refused_as_too_many(await served.refused("203.0.113.7"), 429)
        # while another address still connects
        other = await stack.enter_async_context(served.socket("203.0.113.8"))
        await init(other)
        # and once one of the two closes, the address may connect again
        await first.close()
        await served.released("203.0.113.7", 1)
        again = await stack.enter_async_context(served.socket("203.0.113.7"))
        await init(again)
    assert sample("invoicepay_websocket_refused_total", cap="client") == refused + 1


@SQLITE_ONLY
async def test_the_process_holds_at_most_its_total_of_sockets(db: Database) -> None:
    refused = sample("invoicepay_websocket_refused_total", cap="total")
    async with serving(db, ws_max_connections=3) as served, AsyncExitStack() as stack:
        # given three sockets open, from three addresses
        sockets = [
            await stack.enter_async_context(served.socket(f"203.0.113.{host}"))
            for host in (1, 2, 3)
        ]
        # then a fourth, from a new address, is refused with 503
        refused_as_too_many(await served.refused("203.0.113.4"), 503)
        assert served.limit.open == 3
        # and once one closes, it connects
        await sockets[0].close()
        await served.released("203.0.113.1", 0)
        await init(await stack.enter_async_context(served.socket("203.0.113.4")))
    assert sample("invoicepay_websocket_refused_total", cap="total") == refused + 1


@SQLITE_ONLY
async def test_every_socket_is_given_back_however_it_ends(db: Database) -> None:
    open_before = sample("invoicepay_websocket_connections")
    async with serving(db, ws_init_timeout=INIT_TIMEOUT, ws_max_per_client=5) as served:
        async with AsyncExitStack() as stack:
            # given four sockets from two addresses, two of them initialised
            subscribed = await stack.enter_async_context(served.socket("203.0.113.1"))
            invalid = await stack.enter_async_context(served.socket("203.0.113.1"))
            idle = await stack.enter_async_context(served.socket("203.0.113.2"))
            dropped = await stack.enter_async_context(served.socket("203.0.113.2"))
            await init(subscribed)
            await init(dropped)
            assert served.limit.open == 4
            assert sample("invoicepay_websocket_connections") == open_before + 4
            # when one subscribes (and later closes normally), one is closed by the server
            # for an invalid message, one times out and one is dropped without a close frame
            await subscribed.send(json.dumps({"type": "subscribe", "id": "w", "payload": WALLET}))
            await invalid.send(b"\x00binary")
            assert await close_code(invalid) == 4400
            assert await close_code(idle) == 4408
            dropped.transport.abort()
        # when every client has gone (the subscribed one closing normally)
        await served.released("203.0.113.1", 0)
        await served.released("203.0.113.2", 0)
        # then nothing is counted any more, and no address is remembered
        assert served.limit.open == 0
        assert served.limit.by_client == {}
        assert sample("invoicepay_websocket_connections") == open_before


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WS_INIT_TIMEOUT", "0"),
        ("WS_INIT_TIMEOUT", "-1"),
        ("WS_INIT_TIMEOUT", "nan"),
        ("WS_INIT_TIMEOUT", "soon"),
        ("WS_MAX_PER_CLIENT", "0"),
        ("WS_MAX_PER_CLIENT", "2.5"),
        ("WS_MAX_CONNECTIONS", "-5"),
        ("WS_MAX_CONNECTIONS", "many"),
    ],
)
def test_a_bad_websocket_setting_refuses_to_start(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_websocket_settings_come_from_the_environment_with_defaults() -> None:
    assert Settings.from_env({}).ws_init_timeout == 3
    assert Settings.from_env({}).ws_max_per_client == 20
    assert Settings.from_env({}).ws_max_connections == 500
    given = Settings.from_env(
        {"WS_INIT_TIMEOUT": "0.5", "WS_MAX_PER_CLIENT": "4", "WS_MAX_CONNECTIONS": "50"}
    )
    assert (given.ws_init_timeout, given.ws_max_per_client, given.ws_max_connections) == (
        0.5,
        4,
        50,
    )


@pytest.mark.slow
@SQLITE_ONLY
async def test_invoicepay_serve_applies_the_websocket_settings(database_url: str) -> None:
    async with live_server(database_url, WS_INIT_TIMEOUT="0.5", WS_MAX_PER_CLIENT="1") as server:
        url = server.url.replace("http://", "ws://") + "/graphql"
        async with socket(url) as first:
            # a second socket from the same address is refused, with a GraphQL error body
            refused_as_too_many(await refused(url), 429)
            # and the first, never initialised, is closed after WS_INIT_TIMEOUT
            assert await close_code(first) == 4408
        async with server.client() as client:
            scraped = (await client.get("/metrics")).text
        assert 'invoicepay_websocket_refused_total{cap="client"} 1.0' in scraped
        assert "invoicepay_websocket_init_timeouts_total 1.0" in scraped
