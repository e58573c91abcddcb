"""`X-Request-ID`: a client's own id is used when it is a UUID in its usual text, echoed,
and carried by the logs and the error body; anything else is replaced by a new id."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.db.engine import Database
from app.http.request_context import RequestContextMiddleware
from app.observability.logs import JsonFormatter
from app.web import create_app
from tests import support

GENERATED = re.compile(r"^[0-9a-f]{32}$")
ACCEPTED = {
    "hex": uuid.uuid4().hex,
    "hex upper case": uuid.uuid4().hex.upper(),
    "hyphenated v4": str(uuid.uuid4()),
    "hyphenated v7": "0190f3c5-6a4e-7cc2-9d2f-3b1e6c2a9f10",
    "nginx $request_id": "3f1c2a7e9b0d4e8f6a5b4c3d2e1f0a9b",
}
REFUSED = {
    "a word": "abc",
    "braces": "{" + str(uuid.uuid4()) + "}",
    "urn": "urn:uuid:" + str(uuid.uuid4()),
    "33 hex digits": uuid.uuid4().hex + "a",
    "not hex": "g" * 32,
    "a forged log line": uuid.uuid4().hex + " INFO forged",
    "long": "a" * 500,
    "a card number in it": "4111111111111111" + "0" * 16,
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    db = Database("sqlite+aiosqlite:///:memory:")
    app = create_app(support.test_settings(db.url), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    await db.dispose()


@pytest.mark.parametrize("sent", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_a_client_uuid_is_used_and_echoed(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": sent})
    assert response.status_code == 200
    assert response.headers.get_list("X-Request-ID") == [sent]


@pytest.mark.parametrize("sent", REFUSED.values(), ids=REFUSED.keys())
async def test_anything_else_is_replaced_by_a_new_id_quietly(
    client: httpx.AsyncClient, sent: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.get("/healthz", headers={"X-Request-ID": sent})
    [given] = response.headers.get_list("X-Request-ID")
    assert GENERATED.match(given) and given != sent
    # a client cannot make us write a line per request by sending bad ids
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_without_one_each_request_gets_its_own(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/healthz")).headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(GENERATED.match(given) for given in ids)


async def _broken(_scope: Scope, _receive: Receive, _send: Send) -> None:
    raise RuntimeError("nobody planned for this")


@pytest.mark.parametrize("path", ["/api/v1/billing/invoice/pay", "/graphql"])
async def test_the_client_id_reaches_the_error_body_and_the_log(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given a route that fails unexpectedly, and a client that names its request
    sent = str(uuid.uuid4())
    transport = httpx.ASGITransport(app=RequestContextMiddleware(_broken))
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post(path, headers={"X-Request-ID": sent})
    # then the 500 carries its id, in the header and the body
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == sent
    body = response.json()
    if path == "/graphql":
        assert body["errors"][0]["extensions"]["requestId"] == sent
    else:
        assert body["requestId"] == sent
    # and the log line of the failure is filed under it, as JSON too
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.request_id == sent  # type: ignore[attr-defined]
    assert json.loads(JsonFormatter().format(record))["request_id"] == sent
