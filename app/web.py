"""The ASGI application: GraphQL (and GraphiQL) at /graphql, the REST route of the seed,
and its OpenAPI document; behind the request-id and traffic-guard middleware."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import SubscriptionExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.api.graphql.context import Context
from app.api.graphql.http_media import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    is_request_error,
    response_media_type,
    without_data,
)
from app.api.graphql.payment_gate import only_payments
from app.api.graphql.schema import schema_for
from app.api.graphql.subscriptions import accept_connection
from app.api.rest import route as rest
from app.api.rest.openapi import OPENAPI_PATH, openapi_document
from app.auth.tokens import AuthError, TokenVerifier
from app.config import ConfigError, Settings
from app.db.engine import Database
from app.db.unavailable import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE_CODE
from app.events.hub import EventHub, committed_notices
from app.http.gate import Gate
from app.http.graphiql import GraphiQLPage, static_routes
from app.http.guard import TrafficGuard, TrafficGuardMiddleware
from app.http.health import HEALTHZ_PATH, READYZ_PATH, Readiness, healthz
from app.http.ratelimit import RateLimiter
from app.http.request_context import RequestContextMiddleware, configure_logging, send_error
from app.http.websocket_limits import WebSocketLimit
from app.kit import strict_json
from app.kit.gc import freeze_startup
from app.kit.strict_json import DuplicateKey
from app.observability import metrics
from app.observability.logs import JsonFormatter
from app.webhooks.dispatcher import Dispatcher

if TYPE_CHECKING:
    from app.observability.tracing import Tracing

log = logging.getLogger("invoicepay")


class GraphQLApp(GraphQL[Context, None]):
    """GraphQL over HTTP and websockets, with the schema `settings` call for (production
    refuses introspection and hides suggestions) and GraphiQL only when GRAPHIQL is on."""

    def __init__(self, gate: Gate, settings: Settings, tracing: Tracing | None = None) -> None:
        super().__init__(
            schema_for(settings, None if tracing is None else tracing.schema_extension),
            graphql_ide="graphiql" if settings.graphiql else None,
            # A socket that never sends `connection_init` is closed with 4408 after this.
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
        )
        self.gate = gate
        # Subscriptions speak graphql-transport-ws only (token in `connection_init`).
        self.protocols = (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
        self.events: EventHub | None = None
        self.graphiql_page = GraphiQLPage(gate, settings)
        self.allow_private_webhooks = settings.webhook_allow_private

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the app's own files (app.http.graphiql), never from a CDN."""
        return await self.graphiql_page.response(request)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):
            # One context for the whole connection, authenticated on `connection_init`.
            return Context(
                db=self.gate.db,
                principal=None,
                gate=self.gate,
                client_ip=request.scope.get("state", {}).get("client_ip", "unknown"),
                events=self.events,
                websocket=True,
                authorization=request.headers.get("authorization"),
            )
        client_ip = request.scope.get("state", {}).get("client_ip", "unknown")
        return Context(
            db=self.gate.db,
            principal=None,
            gate=self.gate,
            client_ip=client_ip,
            authorization=request.headers.get("authorization"),
            allow_private_webhooks=self.allow_private_webhooks,
            authenticated=False,  # once the request is known: execute_operation
        )

    async def execute_operation(
        self,
        request: Any,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """Who is asking, before anything runs: a request of payInvoice fields only may be
        answered by a session this process remembers (each payment's read confirms it,
        app.auth.tokens.Sessions); any other reads its session."""
        if not context.authenticated:
            paying = not isinstance(request_data, list) and only_payments(
                request_data.query, request_data.operation_name, request_data.variables
            )
            try:
                context.principal = await self.gate.authenticate(
                    context.authorization, paying=paying
                )
            except AuthError:
                context.principal = None
            context.authenticated = True
            context.paying = paying and context.principal is not None
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        await accept_connection(context)
        return cast("UnsetType", UNSET)

    def encode_json(self, data: object) -> str | bytes:
        return encode_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        """An HTTP request's JSON (body, or GET's `variables`): a repeated key is a 400
        with no data, naming the key (docs/design.md, "Protections at the edge")."""
        try:
            return self.decode_json(data)
        except DuplicateKey as error:
            raise HTTPException(400, f"Duplicate key in JSON: {error.path}") from None

    def decode_json(self, data: str | bytes) -> object:
        """A GraphQL request is a JSON object (or an array: a batch, refused later); any
        other body, undecodable bytes or nesting past the parser's reach is a 400. A
        repeated key raises DuplicateKey, a JSONDecodeError: a websocket message with one
        closes the connection (4400) as any other message that is not JSON."""
        try:
            decoded = strict_json.loads(data)
        except DuplicateKey:
            raise
        except (ValueError, RecursionError):
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "A GraphQL request is a JSON object")
        return decoded

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # The answer's media type, negotiated here where the request is at hand.
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """In the media type the client asked for (app.api.graphql.http_media): a request
        error in `application/graphql-response+json` is a 400 without `data`.
        503 with `Retry-After` when the database was unavailable and nothing was
        answered: HTTP clients and load balancers retry that without reading the body."""
        media_type = sub_response.media_type or JSON
        if (
            media_type == GRAPHQL_RESPONSE_JSON
            and isinstance(response_data, dict)
            and is_request_error(response_data)
        ):
            response = super().create_response(without_data(response_data), sub_response)
            response.status_code = 400
        else:
            response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = media_type
        if isinstance(response_data, dict) and _only_unavailable(response_data):
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


def encode_json(data: object) -> str:
    """An answer's JSON: orjson, several times faster than json; text orjson refuses (a
    lone surrogate, were one ever echoed back) goes through json, which escapes it.
    Text, not bytes: Strawberry sends bytes over a websocket as binary frames, which
    browser clients (graphql-ws, in GraphiQL) refuse."""
    try:
        return orjson.dumps(data).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(data, separators=(",", ":"))


class BodyLimit:
    """Refuses (413) a request body over `rest.MAX_BODY_BYTES`, declared or streamed,
    before the app reads it all: GraphQL documents are bounded anyway (app.api.graphql.limits)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > rest.MAX_BODY_BYTES:
            await send_error(send, scope, 413, rest.TOO_LARGE, rest.PAYLOAD_TOO_LARGE)
            return
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > rest.MAX_BODY_BYTES:
                raise rest.BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except rest.BodyTooLarge:
            await send_error(send, scope, 413, rest.TOO_LARGE, rest.PAYLOAD_TOO_LARGE)


def _only_unavailable(result: GraphQLHTTPResponse) -> bool:
    errors = cast("list[dict[str, Any]]", result.get("errors") or [])
    data: dict[str, object] = dict(result.get("data") or {})
    return (
        bool(errors)
        and all(
            (error.get("extensions") or {}).get("code") == SERVICE_UNAVAILABLE_CODE
            for error in errors
        )
        and all(value is None for value in data.values())
    )


def _start_tracing(settings: Settings) -> Tracing:
    """OpenTelemetry is imported here alone, and only when tracing is asked for."""
    try:
        from app.observability.tracing import start_tracing
    except ImportError as error:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'invoicepay[tracing]')"
        ) from error
    return start_tracing(settings)


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    limiter: RateLimiter | None = None,
    tracing: Tracing | None = None,
    freeze_gc: bool = False,
) -> Starlette:
    """The application; refuses to start on a configuration that is not safe (ConfigError).
    Traced when OTEL_EXPORTER_OTLP_ENDPOINT is set, or into `tracing` when given.
    `freeze_gc` (the served process, `serve_app`): see `app.kit.gc.freeze_startup`."""
    settings = settings or Settings.from_env()
    if tracing is None and settings.otel_exporter_otlp_endpoint is not None:
        tracing = _start_tracing(settings)
    guard = TrafficGuard(settings.trusted_proxies, settings.blocked_ips)
    verifier = TokenVerifier(settings)
    own_limiter = limiter is None
    limiter = limiter or RateLimiter(settings.rate_limit, settings.rate_limit_storage_url)
    database = db or Database(settings.database_url)
    gate = Gate(db=database, verifier=verifier, limiter=limiter)
    graphql = GraphQLApp(gate, settings, tracing)
    events = graphql.events = EventHub(database, gap_grace=settings.event_gap_grace)
    document = openapi_document()
    metrics.watch_pool(database)
    # Every instance sends webhooks, sharing the work, woken by its reader's new events
    # (app.webhooks.dispatcher).
    dispatcher = (
        Dispatcher(database, settings, events=events) if settings.webhook_dispatcher else None
    )
    # Probes and the scrape: no token (but METRICS_TOKEN's), no rate limit (app.http.health).
    operations = [
        Route(HEALTHZ_PATH, healthz, methods=["GET"]),
        Route(READYZ_PATH, Readiness(database).handle, methods=["GET"]),
    ]
    if settings.serves_metrics:
        token = settings.metrics_token
        scrape = metrics.MetricsEndpoint(token.get_secret_value() if token else None).handle
        operations.append(Route(metrics.METRICS_PATH, scrape, methods=["GET"]))

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await events.start()  # this instance's LISTEN connection (app.events.hub)
        if dispatcher is not None:
            await dispatcher.start()
        if freeze_gc:
            freeze_startup()
        yield
        if dispatcher is not None:
            await dispatcher.stop()  # the POSTs under way finish (at most 10 s)
        await committed_notices(database).drain()  # notices of the last payments
        await events.stop()
        if own_limiter:
            await limiter.aclose()
        if db is None:
            await database.close_connections()  # a lifespan may run again (tests)
            log.info("database pool closed")
        metrics.process_stopped()

    return Starlette(
        routes=[
            Route("/graphql", BodyLimit(graphql)),
            WebSocketRoute(
                "/graphql",
                WebSocketLimit(graphql, settings.ws_max_per_client, settings.ws_max_connections),
            ),
            Route(
                rest.PATH, metrics.count_rest_payments(rest.PayRoute(gate).handle), methods=["POST"]
            ),
            Route(OPENAPI_PATH, openapi, methods=["GET"]),
            *static_routes(settings),
            *operations,
        ],
        middleware=[
            *([] if tracing is None else [tracing.middleware()]),
            Middleware(metrics.MetricsMiddleware),
            Middleware(RequestContextMiddleware),
            Middleware(TrafficGuardMiddleware, guard=guard),
        ],
        lifespan=lifespan,
    )


def serve_app() -> Starlette:
    """What `invoicepay serve` runs in each worker: logging with request ids, then the app."""
    settings = Settings.from_env()
    json_lines = settings.log_format == "json"
    configure_logging(settings.log_level, JsonFormatter() if json_lines else None)
    return create_app(settings, freeze_gc=True)
