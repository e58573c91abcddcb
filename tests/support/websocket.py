"""A graphql-transport-ws client and the app served by uvicorn in this process, for
the tests of subscriptions and websocket limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from app.db.engine import Database
from app.web import create_app
from tests.support.clients import test_settings as settings_for
from tests.support.live import free_port

PROTOCOL = Subprotocol("graphql-transport-ws")
SILENCE_SECONDS = 0.5  # how long "nothing arrives" is waited for


class GraphQLWs:
    """A graphql-transport-ws client. Operations interleave their messages: `message(id)`
    waits for the next one of `id`, keeping the others, in order, for later."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.kept: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        if self.kept:
            return self.kept.pop(0)
        message: dict[str, Any] = json.loads(
            text_frame(await asyncio.wait_for(self.socket.recv(), seconds))
        )
        return message

    async def message(self, id: str) -> dict[str, Any]:
        for kept in self.kept:
            if kept.get("id") == id:
                self.kept.remove(kept)
                return kept
        while True:
            message: dict[str, Any] = json.loads(
                text_frame(await asyncio.wait_for(self.socket.recv(), 10))
            )
            if message.get("id") == id:
                return message
            self.kept.append(message)

    async def init(self, token: str | None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.send({"type": "subscribe", "id": id, "payload": payload})

    async def next(self, id: str) -> dict[str, Any]:
        """The data of the next message, which must be a `next` for `id`."""
        message = await self.message(id)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def silent(self, seconds: float = SILENCE_SECONDS) -> None:
        """Nothing arrives for `seconds`."""
        assert not self.kept, self.kept
        with pytest.raises(TimeoutError):
            message = await self.receive(seconds)
            pytest.fail(f"unexpected message {message}")


@dataclass
class Served:
    url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    @asynccontextmanager
    async def socket(
        self, token: str | None, *, header_token: str | None = None
    ) -> AsyncIterator[GraphQLWs]:
        """A connection, initialised with `token` (None: without one)."""
        headers = {"Authorization": f"Bearer {header_token}"} if header_token else None
        async with connect(self.ws_url, subprotocols=[PROTOCOL], additional_headers=headers) as ws:
            client = GraphQLWs(ws)
            assert await client.init(token) == {"type": "connection_ack"}
            yield client

    @asynccontextmanager
    async def http(self) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            yield client


def text_frame(frame: str | bytes) -> str:
    """graphql-transport-ws messages are text frames: browser clients (graphql-ws, as in
    GraphiQL) parse only strings and close the socket on a binary one."""
    assert isinstance(frame, str), f"a binary frame: {frame[:80]!r}"
    return frame


@asynccontextmanager
async def uvicorn_serving(app: Starlette) -> AsyncIterator[int]:
    """`app` served by uvicorn in this process on a free loopback port, yielded once it
    has started (lifespan included)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # ten seconds at most
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serving(db: Database, **overrides: Any) -> AsyncIterator[Served]:
    """The app on `db`, served by uvicorn in this process (lifespan included: the
    event listener starts with it)."""
    async with uvicorn_serving(create_app(settings_for(db.url, **overrides), db=db)) as port:
        yield Served(f"http://127.0.0.1:{port}")


def amount(value: str, currency: str = "NGN") -> dict[str, str]:
    return {"amount": value, "currency": currency}
