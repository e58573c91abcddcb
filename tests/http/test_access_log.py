"""The access log names the client the traffic guard believed: behind a proxy listed in
TRUSTED_PROXIES the forwarded client, never the proxy; a header from anyone else is
ignored there as it is for limits."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from app.db.engine import Database
from app.web import create_app
from tests import support
from tests.support.live import free_port, live_server

FORWARDED = "203.0.113.7"
ROOT_QUERY = {"query": "{ __typename }"}


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[tuple[str, Lines]]:
    """`app` under uvicorn on a loopback port in this process, and its access lines."""
    lines = Lines()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(lines)
    level = access.level
    access.setLevel(logging.INFO)
    port = free_port()
    # As `invoicepay serve` runs it: uvicorn's own X-Forwarded-For reading off.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=True, log_config=None, proxy_headers=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:  # noqa: ASYNC110  (uvicorn offers a flag, no event)
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", lines
    finally:
        server.should_exit = True
        await task
        access.removeHandler(lines)
        access.setLevel(level)


@pytest.mark.parametrize(
    ("trusted_proxies", "client"),
    [
        # our proxy (the loopback peer) forwards the client: the client is logged
        (("127.0.0.1",), FORWARDED),
        # anyone else's X-Forwarded-For is theirs to write: the peer is logged
        ((), "127.0.0.1"),
        (("10.0.0.0/8",), "127.0.0.1"),
    ],
)
async def test_the_access_line_names_the_client_the_guard_believed(
    db: Database, trusted_proxies: tuple[str, ...], client: str
) -> None:
    # given the app served by uvicorn, with these trusted proxies
    settings = support.test_settings(db.url, trusted_proxies=trusted_proxies)
    async with served(create_app(settings, db=db)) as (url, lines), httpx.AsyncClient() as http:
        # when a request arrives saying it was forwarded for another address
        answer = await http.post(
            f"{url}/graphql", json=ROOT_QUERY, headers={"X-Forwarded-For": FORWARDED}
        )
    # then its access line names the client the guard determined, not who sent it
    assert answer.status_code == 200
    [line] = [r for r in lines.records if isinstance(r.args, tuple) and r.args[2] == "/graphql"]
    assert isinstance(line.args, tuple)
    assert str(line.args[0]).rsplit(":", 1)[0] == client


@pytest.mark.slow
async def test_invoicepay_serve_logs_the_forwarded_client(
    database_url: str, tmp_path: Path
) -> None:
    # given `invoicepay serve` behind a proxy on loopback, logging JSON
    log_path = tmp_path / "server.log"
    async with (
        live_server(
            database_url, log_path=log_path, LOG_FORMAT="json", TRUSTED_PROXIES="127.0.0.1"
        ) as server,
        server.client() as http,
    ):
        # when the proxy forwards a client's request
        answer = await http.post(
            "/graphql", json=ROOT_QUERY, headers={"X-Forwarded-For": FORWARDED}
        )
    assert answer.status_code == 200
    # then the summary line names that client
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    [line] = [e for e in entries if e["logger"] == "uvicorn.access" and e["path"] == "/graphql"]
    assert line["client"] == f"{FORWARDED}:0"
