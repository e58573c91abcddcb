"""`invoicepay webhooks`: list, deliveries, redeliver and `run --once` against a receiver
on loopback (a thread: `main` runs its own event loop)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.cli import commands as cli
from app.db.engine import Database
from app.webhooks import endpoints
from tests.support import DEMO_CLONE, make_world
from tests.support.cli import set_cli_env
from tests.support.webhooks import given_events

RECEIVED: list[str] = []


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        RECEIVED.append(self.headers["webhook-id"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    RECEIVED.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def given(database_url: str, url: str) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        db = Database(database_url)
        try:
            await make_world(db)
            endpoint, _ = await endpoints.create_endpoint(
                db, DEMO_CLONE, url, ["invoice.created"], "ERP", allow_private=True
            )
            [event] = await given_events(db)
            return endpoint.row.id, event.id
        finally:
            await db.dispose()

    return asyncio.run(make())


def test_run_once_sends_what_is_due_and_deliveries_show_it(
    database_url: str,
    hook_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given an endpoint on loopback with one event due, and private addresses allowed
    set_cli_env(monkeypatch, database_url)
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "on")
    endpoint_id, event_id = given(database_url, hook_url)
    assert cli.main(["webhooks", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["enabled"], listed["url"]) == (endpoint_id, True, hook_url)
    assert "secret" not in json.dumps(listed)
    # when the dispatcher runs once
    assert cli.main(["webhooks", "run", "--once"]) == 0
    assert capsys.readouterr().out == "sent 1 due deliveries\n"
    # then the receiver has the event, and the deliveries say so
    assert [event_id] == RECEIVED
    assert cli.main(["webhooks", "deliveries", endpoint_id, "--json"]) == 0
    [delivery] = json.loads(capsys.readouterr().out)
    assert (delivery["event"], delivery["status"], delivery["response"]) == (
        event_id,
        "SUCCEEDED",
        "204",
    )
    # when it is delivered again, it is due now and sent once more
    assert cli.main(["webhooks", "redeliver", endpoint_id, event_id]) == 0
    assert "PENDING, due now (after 1 attempt(s))" in capsys.readouterr().out
    assert cli.main(["webhooks", "run", "--once"]) == 0
    assert [event_id, event_id] == RECEIVED


def test_an_unknown_endpoint_fails_with_one_line(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_cli_env(monkeypatch, database_url)
    assert cli.main(["webhooks", "deliveries", "whe_missing"]) == 1
    assert capsys.readouterr().err == (
        "invoicepay: error: Webhook endpoint not found (endpoint_id=whe_missing)\n"
    )
