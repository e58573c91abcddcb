"""A real `invoicepay serve` process on a loopback port, for tests that need the whole HTTP
stack (uvicorn, a TCP socket, an async client) or a process to kill.

    async with live_server(database_url) as server:
        async with server.client() as client:
            await client.post("/graphql", ...)
        server.kill()            # SIGKILL, as a crash would
        await server.start()     # the same port, the same database, a new process

The server's stdout and stderr go to `server.log_path`, for tests that read its logs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.keys import SECRET

STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a served test app: the test secret and no practical rate limit."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JWT_", "RATE_LIMIT", "BLOCKED_IPS", "TRUSTED_PROXIES"))
    }
    env.update(
        DATABASE_URL=database_url,
        JWT_SECRET=SECRET,
        RATE_LIMIT="1000000/minute",
        ENVIRONMENT="development",
        LOG_LEVEL="INFO",
    )
    env.update(overrides)
    return env


class LiveServer:
    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1) -> None:
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process and wait until it answers (the OpenAPI document, no database)."""
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("invoicepay")),
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as probe:
            async with asyncio.timeout(STARTUP_SECONDS):
                while True:
                    if self.process.returncode is not None:
                        raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
                    try:
                        if (await probe.get("/api/v1/openapi.json")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server and its workers: no shutdown, no rollback by the app."""
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the server and its workers, as an orchestrator stopping it does; the
        caller awaits `wait_dead()` and reads `process.returncode`."""
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    async def stop(self) -> None:
        """SIGTERM, then wait for the process (SIGKILL after 15 s)."""
        if self.process is None or self.process.returncode is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(15):
                await self.process.wait()
        except TimeoutError:
            self.kill()
            await self.process.wait()

    async def wait_dead(self) -> None:
        if self.process is not None:
            await self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @asynccontextmanager
    async def client(self, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client of this server; many concurrent requests are allowed."""
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        kwargs.setdefault("timeout", 30)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, **kwargs) as client:
            yield client


@asynccontextmanager
async def live_server(
    database_url: str, *, log_path: Path | None = None, workers: int = 1, **env: str
) -> AsyncIterator[LiveServer]:
    """`invoicepay serve` on `database_url`; keyword arguments are extra environment."""
    if log_path is None:
        log_path = Path(tempfile.gettempdir()) / f"invoicepay-live-{free_port()}.log"
    server = LiveServer(server_env(database_url, **env), log_path, workers)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
