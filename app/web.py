"""The ASGI application: GraphQL (and GraphiQL) at /graphql."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.auth import AuthError, Principal, TokenVerifier, authenticate
from app.config import Settings
from app.db import Database
from app.graphql.context import Context
from app.graphql.schema import schema


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, db: Database, verifier: TokenVerifier, *, graphiql: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.db = db
        self.verifier = verifier

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal: Principal | None
        try:
            principal = await authenticate(
                self.db, self.verifier, request.headers.get("authorization")
            )
        except AuthError:
            principal = None
        context = Context(db=self.db, principal=principal)
        if principal is not None and principal.customer_id is not None:
            customer = await context.loaders.customer.load(principal.customer_id)
            context.suspended = customer is not None and customer.status == "SUSPENDED"
        return context


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> Starlette:
    """The application; refuses to start without a strong token key (see Settings)."""
    settings = settings or Settings.from_env()
    verifier = TokenVerifier(settings)
    database = db or Database(settings.database_url)
    graphql = GraphQLApp(database, verifier, graphiql=settings.graphiql)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if db is None:
            await database.dispose()

    return Starlette(
        routes=[Route("/graphql", graphql), WebSocketRoute("/graphql", graphql)],
        lifespan=lifespan,
    )
