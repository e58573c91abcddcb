"""OpenTelemetry tracing: a payment is one trace from the HTTP request through GraphQL to
its SQL, continuing an inbound `traceparent`; with tracing off nothing of OpenTelemetry
is even imported."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.config import ConfigError, Settings
from app.db.engine import Database
from app.observability.tracing import Tracing, start_tracing
from app.payments import pg_store as pg
from app.web import create_app
from tests.support import SECRET, client_for, invoice, make_world
from tests.support import test_settings as settings_for

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename ... on PayInvoiceSuccess { replayed } }
}
"""
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Iterator[Tracing]:
    started = start_tracing(settings_for("unused"), exporter)
    yield started
    started.shutdown()  # asyncpg is patched process-wide: leave other tests untraced


@asynccontextmanager
async def traced_client(db: Database, tracing: Tracing) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(db.url), db=db, tracing=tracing)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def pay(client: httpx.AsyncClient, token: str, traceparent: str | None) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    variables = {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "5000"}}
    response = await client.post(
        "/graphql", json={"query": PAY, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    typename: str = response.json()["data"]["payInvoice"]["__typename"]
    return typename


def statement(span: ReadableSpan) -> object:
    attributes = span.attributes or {}
    return attributes.get("db.statement", attributes.get("db.query.text"))


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def the_one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


@pytest.mark.parametrize("traceparent", [None, TRACEPARENT], ids=["new", "continued"])
async def test_a_payment_is_one_trace_from_http_through_graphql_to_its_sql(
    postgres_db: Database,
    exporter: InMemorySpanExporter,
    tracing: Tracing,
    traceparent: str | None,
) -> None:
    # given Ada's invoice on PostgreSQL, and an app traced into memory
    world = await make_world(postgres_db)
    await invoice(postgres_db, 100123, world.ada, "15000")
    exporter.clear()  # the setup's own SQL is not the request's
    # when she pays it over GraphQL (continuing a caller's trace, or not)
    async with traced_client(postgres_db, tracing) as client:
        assert await pay(client, world.ada_token, traceparent) == "PayInvoiceSuccess"
    spans = exporter.get_finished_spans()
    by_id = {span.context.span_id: span for span in spans}
    # then the HTTP server span is the root, in the caller's trace when there was one
    http = the_one(spans, "POST /graphql")
    assert http.kind == SpanKind.SERVER
    if traceparent is None:
        assert http.parent is None
    else:
        assert http.parent is not None and http.parent.is_remote
        assert format(http.context.trace_id, "032x") == TRACE_ID
    # the GraphQL operation is under it, and the payment's resolver under that
    operation = the_one(spans, "GraphQL Query: Pay")
    resolver = the_one(spans, "GraphQL Resolving: payInvoice")
    assert operation.parent is not None and operation.parent.span_id == http.context.span_id
    assert resolver.parent is not None and resolver.parent.span_id == operation.context.span_id
    # and the payment's READ and WRITE statements are under the resolver
    for sql in (pg.READ, pg.WRITE):
        (span,) = [span for span in spans if statement(span) == sql]
        assert span.kind == SpanKind.CLIENT
        assert resolver in ancestors(span, by_id)
    # all of it one trace, whose every span leads up to the HTTP span
    assert {span.context.trace_id for span in spans} == {http.context.trace_id}
    assert all(http in ancestors(span, by_id) for span in spans if span is not http)
    # and no resolver argument (memos, keys) is written into a span
    assert not [key for key in resolver.attributes or {} if key.startswith("graphql.param")]


async def test_a_shut_down_tracing_leaves_the_sql_untraced(
    postgres_db: Database, exporter: InMemorySpanExporter, tracing: Tracing
) -> None:
    world = await make_world(postgres_db)
    await invoice(postgres_db, 100123, world.ada, "15000")
    tracing.shutdown()
    exporter.clear()
    async with client_for(postgres_db) as client:
        assert await pay(client, world.ada_token, TRACEPARENT) == "PayInvoiceSuccess"
    assert exporter.get_finished_spans() == ()


# Creates the app (with tracing off, serves a query too) and prints the tracing modules
# then loaded; in a fresh interpreter, as this one has imported them. Not all of
# `opentelemetry`: redis imports the metrics SDK (and with it the API) whenever it is
# installed, for metrics it records only when told to (`redis.observability`).
PROBE = """
import asyncio, json, sys
import httpx
from app.config import Settings
from app.web import create_app

settings = Settings.from_env(json.loads(sys.argv[1]))
app = create_app(settings)

async def serve() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/healthz")).status_code == 200
        answer = await client.post("/graphql", json={"query": "{ __typename }"})
        assert answer.json() == {"data": {"__typename": "Query"}}, answer.text

if settings.otel_exporter_otlp_endpoint is None:
    asyncio.run(serve())
tracing = (
    "opentelemetry.sdk.trace",
    "opentelemetry.instrumentation",
    "opentelemetry.exporter",
    "opentelemetry.propagate",
    "strawberry.extensions.tracing",
    "app.observability.tracing",
)
loaded = [name for name in sys.modules if name.startswith(tracing)]
print(json.dumps(loaded))
"""


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:4318"], ids=["off", "on"])
def test_with_tracing_off_no_tracing_module_is_imported(
    tmp_path: Path, endpoint: str | None
) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}", "JWT_SECRET": SECRET}
    env["ENVIRONMENT"] = "development"
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    probe = [sys.executable, "-c", PROBE, json.dumps(env)]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    if endpoint is None:
        assert loaded == []
    else:  # the probe sees them when tracing is on
        assert "opentelemetry.instrumentation.asgi" in loaded
        assert "strawberry.extensions.tracing.opentelemetry" in loaded


def test_tracing_is_on_only_with_an_otlp_endpoint_over_http() -> None:
    assert Settings.from_env({}).otel_exporter_otlp_endpoint is None
    on = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert on.otel_exporter_otlp_endpoint == "http://collector:4318"
    assert on.otel_service_name == "invoicepay"
    named = Settings.from_env({"OTEL_SERVICE_NAME": "payments-eu"})
    assert named.otel_service_name == "payments-eu"
    for wrong in ("collector:4318", "grpc://collector:4317", "http://"):
        with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
            Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": wrong})
