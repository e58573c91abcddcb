"""The schema: queries, mutations, subscriptions, masking of every unexpected error, and
the limits (app/api/graphql/limits.py) that refuse abusive documents before any resolver runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache, partial
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    StringValueNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult

from app.api.graphql.caches import DocumentCache, derived
from app.api.graphql.context import ClientError, bad_input
from app.api.graphql.cost import CostLimit
from app.api.graphql.errors import Error
from app.api.graphql.hooks import HookRunner
from app.api.graphql.inputs import fast_inputs
from app.api.graphql.limits import limit_extensions
from app.api.graphql.masking import MaskUnexpectedErrors
from app.api.graphql.mutations import Mutation
from app.api.graphql.observe import NameOperation
from app.api.graphql.payment_gate import PaymentGate
from app.api.graphql.queries import Query
from app.api.graphql.scalars import DECIMAL
from app.api.graphql.subscriptions import Subscription, WebSocketSession
from app.api.graphql.types import Customer, Invoice, Payment, Wallet
from app.config import DEFAULT_GRAPHQL_MAX_COST, DEFAULT_GRAPHQL_TIMEOUT, Settings
from app.kit.deadline import TimedOut, within
from app.kit.text import storable


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return not storable(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(item) for item in value)
    return False


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        self.values.append(node.value)


def _string_literals(document: DocumentNode) -> tuple[str, ...]:
    literals = _StringLiterals()
    visit(document, literals)
    return tuple(literals.values)


class RefuseUnstorableText(SchemaExtension):
    """No input of ours means a NUL character or a lone surrogate, and PostgreSQL cannot
    store either: refuse them as bad input up front, the same on both backends, instead of
    failing in the database (app/kit/text.py)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        literals = () if document is None else derived(document, "literals", _string_literals)
        if _unstorable(context.variables) or _unstorable(list(literals)):
            error = bad_input("Input must be text without NUL characters or lone surrogates")
            context.result = ExecutionResult(data=None, errors=[error])
        yield


log = logging.getLogger("invoicepay.graphql")
ExtensionFactory = Callable[..., SchemaExtension]


def query_timeout(seconds: float) -> ClientError:
    error = ClientError(f"The query ran longer than {seconds:g} s and was stopped", "QUERY_TIMEOUT")
    assert error.extensions is not None
    error.extensions["timeout"] = seconds
    return error


class Schema(strawberry.Schema):
    timeout: float = DEFAULT_GRAPHQL_TIMEOUT

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """Strawberry's hooks, with what does not depend on the request done once
        (app/api/graphql/hooks.py)."""
        return HookRunner(execution_context=execution_context, extensions=extensions)

    async def execute(self, *args: Any, **kwargs: Any) -> StrawberryExecutionResult:
        """Every document over HTTP, within `GRAPHQL_TIMEOUT` (app.kit.deadline): cancelled at
        the time limit, unless it has begun to commit, and then answered QUERY_TIMEOUT."""
        try:
            return await within(self.timeout, super().execute(*args, **kwargs))
        except TimedOut:
            return StrawberryExecutionResult(data=None, errors=[query_timeout(self.timeout)])

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Unexpected failures are logged, with traceback and request id, where they are
        masked (MaskUnexpectedErrors); every other error is about the client's input."""
        for error in errors:
            log.debug("GraphQL error for the client: %s", error.message)


def build_schema(
    *,
    locked: bool,
    max_cost: int = DEFAULT_GRAPHQL_MAX_COST,
    timeout: float = DEFAULT_GRAPHQL_TIMEOUT,
    tracing: ExtensionFactory | None = None,
) -> Schema:
    """The schema with its protections (app/api/graphql/limits.py, cost.py). The
    exported SDL is the same in every environment; `locked` hides "Did you mean …"
    suggestions and refuses `__schema` / `__type`. `tracing`: the extension that traces
    each operation, when tracing is on (app.observability.tracing)."""
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Customer, Wallet, Invoice, Payment, Error],
        config=StrawberryConfig(scalar_map={Decimal: DECIMAL}, disable_field_suggestions=locked),
        extensions=[
            NameOperation,  # first, so it sees the final errors (app.api.graphql.observe)
            *([] if tracing is None else [tracing]),  # its span then covers every step
            MaskUnexpectedErrors,
            *limit_extensions(locked=locked),
            DocumentCache,
            partial(CostLimit, max_cost=max_cost),  # after validation, which it relies on
            RefuseUnstorableText,
            WebSocketSession,
            PaymentGate,
        ],
    )
    built.timeout = timeout
    fast_inputs(built)
    return built


@cache
def _built(
    locked: bool, max_cost: int, timeout: float, tracing: ExtensionFactory | None = None
) -> Schema:
    return build_schema(locked=locked, max_cost=max_cost, timeout=timeout, tracing=tracing)


def schema_for(settings: Settings, tracing: ExtensionFactory | None = None) -> Schema:
    """The schema `settings` call for, built once per process (and tracing extension):
    locked in production, unless GraphiQL is on there (GRAPHIQL=on)."""
    locked = settings.is_production and not settings.graphiql
    return _built(locked, settings.graphql_max_cost, settings.graphql_timeout, tracing)


schema = _built(False, DEFAULT_GRAPHQL_MAX_COST, DEFAULT_GRAPHQL_TIMEOUT, None)
"""The development schema: what `make schema` exports (`app.api.graphql.schema:schema`)."""
