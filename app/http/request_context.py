"""Every request gets an id: sent back in `X-Request-ID`, put on every log line of the
request, and the only thing a client learns about a failure we did not expect.

asgi-correlation-id's middleware reads and echoes the header. A client's own
`X-Request-ID` is used when it is a UUID in its usual text: 32 hex digits, or 36 with
hyphens as 8-4-4-4-12, either case, any version (nginx's `$request_id`, UUIDv4, UUIDv7);
anything else (braces, `urn:uuid:`, other text, a line break for log injection, digits
only that hold a card number) is replaced by a new id (32 lowercase hex digits), which the
response carries instead.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

import orjson
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.unavailable import (
    RETRY_AFTER_SECONDS,
    SERVICE_UNAVAILABLE,
    SERVICE_UNAVAILABLE_CODE,
    is_unavailable,
)
from app.kit.redact import MIN_CARD_DIGITS, protect_logging, redact

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
UNEXPECTED_ERROR = "Unexpected Error"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"  # its code (X-Error-Code, GraphQL extensions)
GRAPHQL_PATH = "/graphql"

log = logging.getLogger("invoicepay")
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# Room for a card number (digits and hyphens in a row): only then is redaction worth its
# 10 µs; a plain character class, as `\d(?:-?\d){12}` backtracks into several µs itself.
_CARD_LENGTH_RUN = re.compile(rf"[0-9-]{{{MIN_CARD_DIGITS},}}")


def valid_request_id(value: str) -> bool:
    """Whether a client's `X-Request-ID` is a UUID in its usual text (the module's doc)
    that no log line would have to mask (all digits, it could hold a card number)."""
    if _UUID_TEXT.fullmatch(value) is None:
        return False
    return _CARD_LENGTH_RUN.search(value) is None or redact(value) == value


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str:
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: str, formatter: logging.Formatter | None = None) -> None:
    """The root handler, with `formatter` (app.observability.logs's for LOG_FORMAT=json) or
    text lines carrying the request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        formatter
        or logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Last: uvicorn's handlers exist by now (it configures them before loading the app).
    protect_logging()


def log_unexpected(what: str) -> str:
    """Log the exception being handled, with its traceback, under the request id (in the
    message, and as the record's `request_id` whatever handler receives it)."""
    request_id = REQUEST_ID.get()
    log.exception(
        "%s failed unexpectedly (request %s)", what, request_id, extra={"request_id": request_id}
    )
    return request_id


def describe_failure(error: BaseException) -> str:
    """The failure's type and first line: enough to tell an outage from a restart."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}"[:300]


def error_body(path: str, message: str, code: str, **fields: str) -> bytes:
    """An answer given before any route ran: REST's `{message, **fields}`, or on /graphql
    a GraphQL error whose extensions hold the code and the fields."""
    if path.startswith(GRAPHQL_PATH):
        error = {"message": message, "extensions": {"code": code, **fields}}
        return orjson.dumps({"data": None, "errors": [error]})
    return orjson.dumps({"message": message, **fields})


async def send_error(
    send: Send,
    scope: Scope,
    status: int,
    message: str,
    code: str,
    *,
    retry_after: int | None = None,
    **fields: str,
) -> None:
    """Answer from middleware with `error_body`, coded in `X-Error-Code`, never cached."""
    body = error_body(scope.get("path", ""), message, code, **fields)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-error-code", code.encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Names the request (just inside the metrics middleware), and turns anything that
    escapes into a 503 when a backing store is unavailable (app.db.unavailable), else a 500
    carrying only the request's name (the traceback goes to the log under it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Its warning per refused id would let any client write a log line per request.
        logging.getLogger("asgi_correlation_id").setLevel(logging.ERROR)
        # Outside our handling: the id is chosen first and every response start carries it.
        self.with_id = CorrelationIdMiddleware(
            self.handle,
            generator=new_request_id,
            validator=valid_request_id,
            update_request_header=False,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        await self.with_id(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = correlation_id.get() or new_request_id()
        reset = REQUEST_ID.set(request_id)
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except ClientDisconnect:
            # The client left before sending its whole request: nobody to answer, no fault.
            log.info("%s %s: the client disconnected", scope.get("method"), scope.get("path"))
        except Exception as error:
            if scope["type"] != "http" or started:
                raise
            what = f"{scope.get('method', '')} {scope.get('path', '')}"
            if is_unavailable(error):
                log.warning(
                    "%s: service unavailable: %s (request %s)",
                    what,
                    describe_failure(error),
                    request_id,
                    extra={"request_id": request_id},
                )
                await send_error(
                    send_tracked,
                    scope,
                    503,
                    SERVICE_UNAVAILABLE,
                    SERVICE_UNAVAILABLE_CODE,
                    retry_after=RETRY_AFTER_SECONDS,
                    requestId=request_id,
                )
                return
            log_unexpected(what)
            await send_error(
                send_tracked,
                scope,
                500,
                UNEXPECTED_ERROR,
                INTERNAL_SERVER_ERROR,
                requestId=request_id,
            )
        finally:
            REQUEST_ID.reset(reset)
