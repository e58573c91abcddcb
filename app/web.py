"""The ASGI application: GraphQL (and GraphiQL) at /graphql, the REST route of the seed,
and its OpenAPI document; behind the request-id and traffic-guard middleware."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse

from app import rest
from app.auth import AuthError, Principal, TokenVerifier
from app.config import Settings
from app.db import Database
from app.gate import Gate
from app.graphql.context import Context
from app.graphql.schema import schema_for
from app.guard import TrafficGuard, TrafficGuardMiddleware
from app.openapi import OPENAPI_PATH, openapi_document
from app.ratelimit import RateLimiter
from app.request_context import RequestContextMiddleware, configure_logging, send_error
from app.unavailable import RETRY_AFTER_SECONDS, SERVICE_UNAVAILABLE_CODE


class GraphQLApp(GraphQL[Context, None]):
    """GraphQL over HTTP and websockets, with the schema `settings` call for (production
    refuses introspection and hides suggestions) and GraphiQL only when GRAPHIQL is on."""

    def __init__(self, gate: Gate, settings: Settings) -> None:
        super().__init__(
            schema_for(settings), graphql_ide="graphiql" if settings.graphiql else None
        )
        self.gate = gate

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal: Principal | None
        try:
            principal = await self.gate.authenticate(request.headers.get("authorization"))
        except AuthError:
            principal = None
        client_ip = request.scope.get("state", {}).get("client_ip", "unknown")
        return Context(db=self.gate.db, principal=principal, gate=self.gate, client_ip=client_ip)

    def decode_json(self, data: str | bytes) -> object:
        """A GraphQL request is a JSON object (or an array: a batch, refused later); any
        other body, undecodable bytes or nesting past the parser's reach is a 400."""
        try:
            decoded = json.loads(data)
        except (ValueError, RecursionError):
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "A GraphQL request is a JSON object")
        return decoded

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """503 with `Retry-After` when the database was unavailable and nothing was
        answered: HTTP clients and load balancers retry that without reading the body."""
        response = super().create_response(response_data, sub_response)
        if isinstance(response_data, dict) and _only_unavailable(response_data):
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class BodyLimit:
    """Refuses (413) a request body over `rest.MAX_BODY_BYTES`, declared or streamed,
    before the app reads it all: GraphQL documents are bounded anyway (app.graphql.limits)."""

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


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    limiter: RateLimiter | None = None,
) -> Starlette:
    """The application; refuses to start on a configuration that is not safe (ConfigError)."""
    settings = settings or Settings.from_env()
    guard = TrafficGuard(settings.trusted_proxies, settings.blocked_ips)
    verifier = TokenVerifier(settings)
    own_limiter = limiter is None
    limiter = limiter or RateLimiter(settings.rate_limit, settings.rate_limit_storage_url)
    database = db or Database(settings.database_url)
    gate = Gate(db=database, verifier=verifier, limiter=limiter)
    graphql = GraphQLApp(gate, settings)
    document = openapi_document()

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if own_limiter:
            await limiter.aclose()
        if db is None:
            await database.dispose()

    return Starlette(
        routes=[
            Route("/graphql", BodyLimit(graphql)),
            WebSocketRoute("/graphql", graphql),
            Route(rest.PATH, rest.PayRoute(gate).handle, methods=["POST"]),
            Route(OPENAPI_PATH, openapi, methods=["GET"]),
        ],
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(TrafficGuardMiddleware, guard=guard),
        ],
        lifespan=lifespan,
    )


def serve_app() -> Starlette:
    """What `invoicepay serve` runs in each worker: logging with request ids, then the app."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)
