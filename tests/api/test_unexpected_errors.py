"""Failures nobody planned for, on both backends: REST answers 500 `{"message":
"Unexpected Error", "requestId": id}` and GraphQL a masked "Unexpected Error" with
`extensions.requestId`; the id is the response's `X-Request-ID` and the log holds the
traceback under it; no SQL, traceback, class or module name reaches the client; and
nothing is written."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import ProgrammingError

import app.api.graphql.mutations
import app.api.rest.route
import app.payments.pg_store
import app.payments.sqlite_store
from app.db.engine import Database
from app.db.unavailable import SERVICE_UNAVAILABLE
from app.web import create_app
from tests.support import World, client_for, invoice, make_world, snapshot_all
from tests.support import test_settings as settings_for

PATH = "/api/v1/billing/invoice/pay"
BODY = {
    "invoice": 100123,
    "currency": "NGN",
    "partPaymentFromWalletBalance": {"chargeTotalCurrent": 5000},
}
PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename ... on PayInvoiceSuccess { replayed } }
}
"""
PAY_INPUT = {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "5000"}}

STATEMENT = (
    "UPDATE wallets SET balance=(wallets.balance - $1::BIGINT) WHERE wallets.id = $2::VARCHAR"
    " RETURNING internal_audit.secret_column"
)
# Whatever a failure's text, traceback or type would show; none of it may reach a client.
LEAKS = [
    "UPDATE",
    "SELECT",
    "wallets",
    "internal_audit",
    "secret_column",
    "BIGINT",
    "Traceback",
    'File "',
    ".py",
    "ProgrammingError",
    "OperationalError",
    "Exception",
    "sqlalchemy",
    "sqlite",
    "asyncpg",
    "aiosqlite",
    "app.",
    "pay_invoice",
    "payment_entries",
    "refused",
    "unable to open",
    "127.0.0.1",
]
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def injected_failure() -> ProgrammingError:
    """What a broken query looks like: SQL, parameters and a driver's complaint."""
    return ProgrammingError(
        STATEMENT, (1500000, "wal_0001"), Exception('relation "internal_audit" does not exist')
    )


async def _fail(*_args: object, **_kwargs: object) -> Any:
    raise injected_failure()


def _fail_sync(*_args: object, **_kwargs: object) -> Any:
    raise injected_failure()


def break_the_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service fails as the REST route and the mutation call it."""
    monkeypatch.setattr(app.api.rest.route, "pay_invoice", _fail)
    monkeypatch.setattr(app.api.graphql.mutations, "settle_invoice", _fail)


def break_the_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service fails deep inside, after the wallet, invoice and payment rows were
    written in its transaction: the failure must roll all of them back. On SQLite the
    ledger entries fail after the ORM flushed the other rows; on PostgreSQL the one WRITE
    statement (app.payments.pg_store) fails at its ledger part, after its wallet, invoice and
    payment parts."""
    monkeypatch.setattr(app.payments.sqlite_store, "payment_entries", _fail_sync)
    broken = app.payments.pg_store.WRITE.replace(
        "INSERT INTO ledger_entries", "INSERT INTO internal_audit"
    )
    assert broken != app.payments.pg_store.WRITE
    monkeypatch.setattr(app.payments.pg_store, "WRITE", broken)


INJECTIONS = [
    pytest.param(break_the_edges, id="the service as the edges call it"),
    pytest.param(break_the_ledger, id="inside the service, after money moved"),
]


def assert_nothing_leaks(response: httpx.Response) -> None:
    shown = response.text + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for leak in LEAKS:
        assert leak not in shown, (leak, shown)


def assert_logged_with_traceback(
    caplog: pytest.LogCaptureFixture, request_id: str, mentioning: str | None = "internal_audit"
) -> None:
    """Exactly one record names the request, carries its id and the traceback of the
    failure (which `mentioning`, when given, shows it is the injected one)."""
    records = [record for record in caplog.records if request_id in record.getMessage()]
    assert len(records) == 1, [record.getMessage() for record in caplog.records]
    [record] = records
    assert record.levelno == logging.ERROR
    assert getattr(record, "request_id", None) == request_id
    assert record.exc_info is not None and record.exc_info[1] is not None
    logged = "".join(traceback.format_exception(*record.exc_info))
    assert logged.startswith("Traceback")
    assert mentioning is None or mentioning in logged


def assert_rest_500(response: httpx.Response) -> str:
    """The REST answer to an unexpected failure; its request id."""
    request_id = response.headers["X-Request-ID"]
    assert REQUEST_ID.match(request_id), request_id
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Unexpected Error", "requestId": request_id}
    assert response.headers["X-Error-Code"] == "INTERNAL_SERVER_ERROR"
    assert_nothing_leaks(response)
    return request_id


def assert_masked(response: httpx.Response) -> str:
    """The GraphQL answer to an unexpected failure in a resolver; its request id."""
    request_id = response.headers["X-Request-ID"]
    assert REQUEST_ID.match(request_id), request_id
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Unexpected Error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert_nothing_leaks(response)
    return request_id


async def given_ada_owes_100123(db: Database) -> World:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    return world


Failing = tuple[World, dict[str, Any]]


@pytest.fixture(params=INJECTIONS)
async def failing(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> Failing:
    """Ada's invoice, and a service that fails the way nobody planned for (each injection);
    with what the database held before anything was asked of it."""
    world = await given_ada_owes_100123(db)
    request.param(monkeypatch)
    caplog.set_level(logging.INFO)
    return world, await snapshot_all(db)


async def test_a_rest_failure_is_500_with_the_request_id_only(
    db: Database, caplog: pytest.LogCaptureFixture, failing: Failing
) -> None:
    # given Ada's invoice, and a service that fails the way nobody planned for
    world, before = failing
    async with client_for(db) as client:
        # when she pays over REST
        response = await client.post(
            PATH, json=BODY, headers={"Authorization": f"Bearer {world.ada_token}"}
        )
    # then 500 with only the request id, which the log has with the traceback
    request_id = assert_rest_500(response)
    assert_logged_with_traceback(caplog, request_id)
    # and nothing was written
    assert await snapshot_all(db) == before


async def test_a_graphql_failure_is_masked_with_the_request_id(
    db: Database, caplog: pytest.LogCaptureFixture, failing: Failing
) -> None:
    # given Ada's invoice, and a service that fails the way nobody planned for
    world, before = failing
    async with client_for(db) as client:
        # when she pays over GraphQL
        response = await client.post(
            "/graphql",
            json={"query": PAY, "variables": PAY_INPUT},
            headers={"Authorization": f"Bearer {world.ada_token}"},
        )
    # then a masked "Unexpected Error" with the request id, which the log has with the
    # traceback
    request_id = assert_masked(response)
    assert_logged_with_traceback(caplog, request_id)
    # and nothing was written
    assert await snapshot_all(db) == before


@asynccontextmanager
async def client_without_database(db: Database, tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a database of the same backend that cannot be reached at all."""
    if db.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp / 'no such directory' / 'invoicepay.db'}"
    else:
        url = "postgresql+asyncpg://postgres@127.0.0.1:1/invoicepay"
    unreachable = Database(url)
    app = create_app(settings_for(url), db=unreachable)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await unreachable.dispose()


async def test_a_database_down_during_authentication_is_a_503_to_retry(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given Ada's well-signed token, and the app's database unreachable
    world = await given_ada_owes_100123(db)
    caplog.set_level(logging.INFO)
    before = await snapshot_all(db)
    async with client_without_database(db, tmp_path) as client:
        # when she pays, over REST and over GraphQL, before any route code can run
        headers = {"Authorization": f"Bearer {world.ada_token}"}
        rest = await client.post(PATH, json=BODY, headers=headers)
        graphql = await client.post(
            "/graphql", json={"query": PAY, "variables": PAY_INPUT}, headers=headers
        )
    # then REST says the service is unavailable, to retry, under the request's id
    rest_id = rest.headers["X-Request-ID"]
    assert rest.status_code == 503, rest.text
    assert rest.json() == {"message": SERVICE_UNAVAILABLE, "requestId": rest_id}
    # and GraphQL says the same in GraphQL's shape, with its own id
    graphql_id = graphql.headers["X-Request-ID"]
    assert graphql.status_code == 503, graphql.text
    assert graphql.json() == {
        "data": None,
        "errors": [
            {
                "message": SERVICE_UNAVAILABLE,
                "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": graphql_id},
            }
        ],
    }
    for response in (rest, graphql):
        assert response.headers["X-Error-Code"] == "SERVICE_UNAVAILABLE"
        assert response.headers["Retry-After"] == "1"
        assert_nothing_leaks(response)
    # and each is logged as a warning under its id, without a traceback
    for request_id in (rest_id, graphql_id):
        [record] = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
        assert record.levelname == "WARNING" and "service unavailable" in record.getMessage()
        assert record.exc_info is None
    assert rest_id != graphql_id
    # and nothing was written
    assert await snapshot_all(db) == before


async def test_every_response_has_its_own_request_id(db: Database) -> None:
    # given the books, and a blocked network
    world = await given_ada_owes_100123(db)
    blocked: dict[str, Any] = {"blocked_ips": ("203.0.113.0/24",)}
    headers = {"Authorization": f"Bearer {world.ada_token}"}
    async with client_for(db, **blocked) as client:
        # when all kinds of requests come: paid, refused for the token, a GraphQL read,
        # the OpenAPI document
        responses = [
            await client.post(PATH, json=BODY, headers=headers),
            await client.post(PATH, json=BODY),
            await client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=headers),
            await client.get("/api/v1/openapi.json"),
        ]
    async with client_for(db, peer="203.0.113.9", **blocked) as client:
        # and one from a blocked address, answered by the middleware
        responses.append(await client.post(PATH, json=BODY, headers=headers))
    # then each carries an id of its own
    statuses = [response.status_code for response in responses]
    assert statuses == [200, 401, 200, 200, 403], [response.text for response in responses]
    ids = [response.headers["X-Request-ID"] for response in responses]
    assert all(REQUEST_ID.match(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_client_leaving_mid_body_is_no_error_and_pays_nothing(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # given Ada's token, and a client that sends half a body and hangs up
    world = await given_ada_owes_100123(db)
    before = await snapshot_all(db)
    application = create_app(settings_for(db.url), db=db)
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"invoice": 100123, "curr', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [
            (b"authorization", f"Bearer {world.ada_token}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "state": {},
    }
    caplog.set_level(logging.INFO)
    # when the request reaches the app
    await application(scope, receive, send)
    # then nothing is answered (nobody is there), nothing is logged as an error, and
    # nothing is written
    assert sent == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("client disconnected" in r.getMessage() for r in caplog.records)
    assert await snapshot_all(db) == before
