"""Prometheus metrics, served at `/metrics`:

- `invoicepay_http_requests_total{api, operation, status}` and
  `invoicepay_http_request_duration_seconds{api, operation}`: every HTTP request, by
  API (`rest`, `graphql`, `ops`, `other`), operation (a REST route's name, or the
  GraphQL operation's root field: `payInvoice`, `viewer`, …; `multiple` for several,
  `invalid` for a document that did not validate) and status.
- `invoicepay_payments_total{api, outcome, replayed}`: every payment attempt, by the
  union member it got (`PayInvoiceSuccess`, `InsufficientFunds`, `WrongAmount`, … the
  same names for REST answers) or the gate that refused it (`Unauthenticated`,
  `Forbidden`, `RateLimited`, `InvalidInput`, `PayloadTooLarge`, `Unavailable`,
  `UnexpectedError`), and whether an idempotency key replayed it.
- `invoicepay_db_pool_checked_out`, `_size`, `_overflow`: the SQLAlchemy pool.
- `invoicepay_db_hot_pool_in_use`, `_open`: the asyncpg pool of the payment hot path
  (app/db/engine.py; with several workers, written after each request).
- `invoicepay_websocket_connections`: websockets open; `invoicepay_websocket_refused_total{cap}`:
  upgrades refused at a cap (`client` or `total`); `invoicepay_websocket_init_timeouts_total`:
  sockets closed (4408) for sending no `connection_init` in time (app/http/websocket_limits.py).
- `invoicepay_webhook_deliveries_total{outcome}`: webhook attempts by outcome (`succeeded`,
  `retrying`, `failed`); `invoicepay_webhook_queue_age_seconds`: how long the oldest due
  delivery has waited (app/webhooks/dispatcher.py).

Every label takes its values from a fixed set: nothing a client writes becomes a label.

With several workers (`invoicepay serve --workers N`) each process writes its metrics to
files in `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode, set up by
`serve`), and whichever worker answers `/metrics` reports the sum of all of them; the
pool gauges are then the sum over the live workers, kept current on every checkout.
"""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.pool import Pool, QueuePool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.rest import route as rest
from app.api.rest.openapi import OPENAPI_PATH
from app.db.engine import Database
from app.db.unavailable import SERVICE_UNAVAILABLE_CODE, is_unavailable
from app.http.health import HEALTHZ_PATH, READYZ_PATH
from app.http.request_context import GRAPHQL_PATH
from app.observability.request_info import OTHER, REQUEST_INFO, RequestInfo

METRICS_PATH = "/metrics"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Decided once, as prometheus_client decides it when first imported.
MULTIPROCESS = bool(os.environ.get(MULTIPROC_DIR))

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin of each series

SUCCESS = "PayInvoiceSuccess"
UNAVAILABLE = "Unavailable"
UNEXPECTED = "UnexpectedError"
INVALID_INPUT = "InvalidInput"
# A payment's outcome by the code its answer carries (REST `X-Error-Code`, GraphQL
# `extensions.code`): the domain errors by their own names, the gates by theirs.
OUTCOME_OF_CODE: dict[str, str] = {
    **{error.code: error.__name__ for error in rest.STATUS},
    rest.UNAUTHENTICATED: "Unauthenticated",
    rest.FORBIDDEN: "Forbidden",
    rest.RATE_LIMITED: "RateLimited",
    rest.BAD_USER_INPUT: INVALID_INPUT,
    "GRAPHQL_VALIDATION_FAILED": INVALID_INPUT,
    rest.PAYLOAD_TOO_LARGE: "PayloadTooLarge",
    SERVICE_UNAVAILABLE_CODE: UNAVAILABLE,
    "INTERNAL_SERVER_ERROR": UNEXPECTED,
}
# Where a request goes, before the GraphQL schema names its operation.
ROUTES: dict[str, tuple[str, str]] = {
    GRAPHQL_PATH: ("graphql", OTHER),
    rest.PATH: ("rest", "payInvoice"),
    OPENAPI_PATH: ("rest", "openapi"),
    HEALTHZ_PATH: ("ops", "healthz"),
    READYZ_PATH: ("ops", "readyz"),
    METRICS_PATH: ("ops", "metrics"),
}

REQUESTS = Counter(
    "invoicepay_http_requests",
    "HTTP requests answered, by API, operation and status.",
    ["api", "operation", "status"],
)
LATENCY = Histogram(
    "invoicepay_http_request_duration_seconds",
    "Time to answer an HTTP request, by API and operation.",
    ["api", "operation"],
)
PAYMENTS = Counter(
    "invoicepay_payments",
    "Payment attempts, by API, outcome (union member or gate) and idempotent replay.",
    ["api", "outcome", "replayed"],
)
POOL_CHECKED_OUT = Gauge(
    "invoicepay_db_pool_checked_out",
    "Database connections in use.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "invoicepay_db_pool_size", "Database connections the pool keeps.", multiprocess_mode="livesum"
)
POOL_OVERFLOW = Gauge(
    "invoicepay_db_pool_overflow",
    "Database connections open beyond the pool size.",
    multiprocess_mode="livesum",
)
HOT_POOL_IN_USE = Gauge(
    "invoicepay_db_hot_pool_in_use",
    "Connections of the payment hot path's pool in use.",
    multiprocess_mode="livesum",
)
HOT_POOL_OPEN = Gauge(
    "invoicepay_db_hot_pool_open",
    "Connections the payment hot path's pool holds open.",
    multiprocess_mode="livesum",
)
WEBSOCKETS_OPEN = Gauge(
    "invoicepay_websocket_connections", "Websockets open.", multiprocess_mode="livesum"
)
WEBSOCKETS_REFUSED = Counter(
    "invoicepay_websocket_refused",
    "Websocket upgrades refused, by the cap reached (`client` or `total`).",
    ["cap"],
)
WEBSOCKET_INIT_TIMEOUTS = Counter(
    "invoicepay_websocket_init_timeouts",
    "Websockets closed (4408) for sending no `connection_init` in time.",
)
WEBHOOK_DELIVERIES = Counter(
    "invoicepay_webhook_deliveries",
    "Webhook attempts, by outcome: `succeeded`, `retrying` (failed, tried again later) or"
    " `failed` (the last attempt failed).",
    ["outcome"],
)
WEBHOOK_QUEUE_AGE = Gauge(
    "invoicepay_webhook_queue_age_seconds",
    "How long the oldest due webhook delivery has waited (0: none waiting).",
    multiprocess_mode="max",
)
# With several workers: writes this worker's hot-pool gauges (set by `watch_pool`).
_after_request: list[Callable[[], None]] = []


# Each series, looked up once: `labels()` costs more than the update itself. Their label
# values come from fixed sets, so these caches stay small.
@cache
def _requests(api: str, operation: str, status: int) -> Counter:
    return REQUESTS.labels(api, operation, str(status))


@cache
def _latency(api: str, operation: str) -> Histogram:
    return LATENCY.labels(api, operation)


@cache
def _payments(api: str, outcome: str, replayed: bool) -> Counter:
    return PAYMENTS.labels(api, outcome, "true" if replayed else "false")


def record_payment(api: str, outcome: str, replayed: bool = False, count: int = 1) -> None:
    _payments(api, outcome, replayed).inc(count)
    info = REQUEST_INFO.get()
    if info is not None:
        info.outcome = outcome
        info.replayed = replayed
        info.payments += count


def failure_outcome(error: BaseException) -> str:
    return UNAVAILABLE if is_unavailable(error) else UNEXPECTED


# --- requests ----------------------------------------------------------------------------


class MetricsMiddleware:
    """Outermost: opens the request's `RequestInfo`, and counts and times the request
    by the operation named on it once it is answered (500 if it never was)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info = RequestInfo(*ROUTES.get(scope["path"], (OTHER, OTHER)))
        reset = REQUEST_INFO.set(info)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            REQUEST_INFO.reset(reset)
            _requests(info.api, info.operation, status).inc()
            _latency(info.api, info.operation).observe(time.perf_counter() - info.started)
            for publish in _after_request:
                publish()


def count_rest_payments(
    handle: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """The REST pay route, counting each answer's outcome by its `X-Error-Code`."""

    async def counted(request: Request) -> Response:
        try:
            response = await handle(request)
        except Exception as error:
            record_payment("rest", failure_outcome(error))
            raise
        replayed = response.headers.get("idempotent-replayed") == "true"
        if response.status_code == 200:
            record_payment("rest", SUCCESS, replayed)
        else:
            code = response.headers.get("x-error-code", "")
            record_payment("rest", OUTCOME_OF_CODE.get(code, UNEXPECTED), replayed)
        return response

    return counted


# --- the database pool -------------------------------------------------------------------


def _pool_figures(pool: Pool) -> tuple[int, int, int]:
    """(checked out, size, overflow) of a queue pool; zeros for any other kind."""
    if not isinstance(pool, QueuePool):
        return 0, 0, 0
    return pool.checkedout(), pool.size(), max(0, pool.overflow())


def watch_pool(db: Database) -> None:
    """Report `db`'s pool: read at scrape time in one process; with several, written on
    every checkout and checkin (a scrape reaches only one worker)."""
    engine = db.engine.sync_engine
    if not MULTIPROCESS:
        POOL_CHECKED_OUT.set_function(lambda: _pool_figures(engine.pool)[0])
        POOL_SIZE.set_function(lambda: _pool_figures(engine.pool)[1])
        POOL_OVERFLOW.set_function(lambda: _pool_figures(engine.pool)[2])
        HOT_POOL_IN_USE.set_function(lambda: db.pg_pool_usage()[0])
        HOT_POOL_OPEN.set_function(lambda: db.pg_pool_usage()[1])
        return

    def publish_hot() -> None:
        in_use, size = db.pg_pool_usage()
        HOT_POOL_IN_USE.set(in_use)
        HOT_POOL_OPEN.set(size)

    _after_request[:] = [publish_hot]

    def publish(*_args: Any) -> None:
        checked_out, size, overflow = _pool_figures(engine.pool)
        POOL_CHECKED_OUT.set(checked_out)
        POOL_SIZE.set(size)
        POOL_OVERFLOW.set(overflow)

    event.listen(engine, "checkout", publish)
    event.listen(engine, "checkin", publish)
    publish()


# --- /metrics ----------------------------------------------------------------------------


class MetricsEndpoint:
    """`GET /metrics` in Prometheus' text format; with `token`, only for
    `Authorization: Bearer <token>`."""

    def __init__(self, token: str | None) -> None:
        self.expected = f"Bearer {token}".encode() if token else None

    async def handle(self, request: Request) -> Response:
        if self.expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, self.expected):
                return Response(
                    b'{"message":"Unauthorized"}',
                    status_code=401,
                    media_type="application/json",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return Response(
            scrape(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
        )


def scrape() -> bytes:
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


@contextmanager
def multiprocess_directory(workers: int) -> Iterator[None]:
    """For `serve`: with several workers (or PROMETHEUS_MULTIPROC_DIR already set), a
    directory for every worker's metric files, emptied first; a temporary one, removed
    afterwards, unless the operator named one."""
    given = os.environ.get(MULTIPROC_DIR)
    if workers < 2 and not given:
        yield
        return
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="invoicepay-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_DIR] = str(path)
    try:
        yield
    finally:
        if not given:
            os.environ.pop(MULTIPROC_DIR, None)
            shutil.rmtree(path, ignore_errors=True)


def process_stopped() -> None:
    """A worker stopping: its live gauges (the pool) no longer count."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
