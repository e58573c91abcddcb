"""What is known about the HTTP request being served, for its metrics and log lines: the
operation it ran, the payment outcome it had, and who asked.

`metrics.MetricsMiddleware` opens one `RequestInfo` per request; the gate notes the
principal, the GraphQL and REST edges note the operation and the outcome. Outside a
request (a websocket, a test calling the schema directly) there is none and every
`note_*` is a no-op.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from app.auth.tokens import Principal

OTHER = "other"


class RequestInfo:
    __slots__ = (
        "api",
        "customer",
        "operation",
        "outcome",
        "payments",
        "replayed",
        "started",
        "tenant",
    )

    def __init__(self, api: str, operation: str) -> None:
        self.started = time.perf_counter()
        self.api = api  # "rest", "graphql", "ops" or "other"
        self.operation = operation  # a bounded name: a route's, or a schema root field's
        self.outcome: str | None = None  # the last payment outcome (app.observability.metrics)
        self.replayed = False
        self.payments = 0  # payment outcomes recorded so far
        self.tenant: str | None = None
        self.customer: str | None = None

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)


REQUEST_INFO: ContextVar[RequestInfo | None] = ContextVar("request_info", default=None)


def current_request() -> RequestInfo | None:
    return REQUEST_INFO.get()


def note_principal(principal: Principal) -> None:
    """The tenant and customer (none for an admin) behind the request."""
    info = REQUEST_INFO.get()
    if info is not None:
        info.tenant = principal.tenant_id
        info.customer = principal.customer_id


def note_operation(operation: str) -> None:
    info = REQUEST_INFO.get()
    if info is not None:
        info.operation = operation
