"""A webhook receiver on loopback for tests: a tiny HTTP/1.1 server that records every
request and answers what the test scripts (a status per request, in order; 200 after).

    async with receiver([500, 500]) as hook:
        ...                      # hook.url, hook.requests
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    statuses: list[int]
    location: str = "http://127.0.0.1:9/elsewhere"
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    answer: Callable[[Request], int] | None = None
    delay: float = 0.0  # seconds before each answer: a slow receiver keeps deliveries claimed

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def status_for(self, request: Request) -> int:
        if self.answer is not None:
            return self.answer(request)
        return self.statuses.pop(0) if self.statuses else 200

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:  # keep-alive: the dispatcher reuses its connections
                head = await reader.readuntil(b"\r\n\r\n")
                line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _ = line.split(" ", 2)
                headers = {}
                for header in lines:
                    if header:
                        name, _, value = header.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method, path, headers, body)
                self.requests.append(request)
                status = self.status_for(request)
                if self.delay:
                    await asyncio.sleep(self.delay)
                extra = f"location: {self.location}\r\n" if 300 <= status < 400 else ""
                reply = b"received" if status < 300 else b"x" * 5000  # over 1 KiB
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: {len(reply)}\r\n{extra}\r\n".encode()
                    + reply
                )
                await writer.drain()
        writer.close()

    def ids(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.requests]


@asynccontextmanager
async def receiver(statuses: list[int] | None = None) -> AsyncIterator[Receiver]:
    hook = Receiver(list(statuses or []))
    server = await asyncio.start_server(hook.serve, "127.0.0.1", 0)
    hook.port = server.sockets[0].getsockname()[1]
    async with server:
        yield hook
        server.close()


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until `check()` holds (polling), or fail after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
