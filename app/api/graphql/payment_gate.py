"""Gateway checks for GraphQL payments, run once per operation before any resolver.

Every `payInvoice` field the operation will run (aliases and fragments included; one
that `@skip`/`@include` leaves out is not run, so not counted: app.api.graphql.document)
is one payment attempt: the whole operation is refused, and nothing runs, unless the
caller is authenticated (Check.UNAUTHENTICATED), passes the guard (Check.FORBIDDEN) and
has room in its rate limit for all of them at once (Check.RATE_LIMITED).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult, FieldNode, GraphQLError, value_from_ast_untyped
from strawberry.extensions import SchemaExtension

from app.api.graphql.caches import parsed
from app.api.graphql.context import ClientError, Context, forbidden, unauthenticated
from app.api.graphql.document import root_fields
from app.api.graphql.limits import MAX_TOKENS
from app.api.graphql.masking import masked
from app.http.gate import Gate
from app.http.ratelimit import TOO_MANY_REQUESTS, RateDecision

PAY_FIELD = "payInvoice"


def rate_limited(decision: RateDecision) -> ClientError:
    error = ClientError(TOO_MANY_REQUESTS, "RATE_LIMITED")
    assert error.extensions is not None
    error.extensions["retryAfter"] = decision.retry_after
    return error


def _clone_id(field: FieldNode, variables: dict[str, Any]) -> object:
    for argument in field.arguments or ():
        if argument.name.value == "input":
            value = value_from_ast_untyped(argument.value, variables)
            return value.get("cloneId") if isinstance(value, dict) else None
    return None


def only_payments(query: str | None, operation_name: str | None, variables: object) -> bool:
    """Whether the request runs `payInvoice` fields and nothing else: then each field's
    payment reads its session anyway (`PayInvoice.session_jti`), so a session this
    process remembers may stand in for reading it first (app.auth.tokens.Sessions). The
    document is parsed as the schema parses it (the same limit on tokens, the same cache)."""
    if not query:
        return False
    document = parsed(query, {"max_tokens": MAX_TOKENS})
    if document is None:
        return False
    try:
        fields = root_fields(
            document, operation_name, variables if isinstance(variables, dict) else None
        )
    except Exception:  # variables the schema will refuse: not a payment to run
        return False
    return bool(fields.mutation and fields.names) and set(fields.names) == {PAY_FIELD}


class PaymentGate(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        error: GraphQLError | None
        try:
            error = await self._check()
        except Exception as failure:  # the session or rate-limit store, failing
            error = masked(GraphQLError(str(failure), original_error=failure))
        if error is not None:
            self.execution_context.result = ExecutionResult(data=None, errors=[error])
        yield

    async def _check(self) -> ClientError | None:
        execution = self.execution_context
        document = execution.graphql_document
        if document is None:
            return None
        variables = execution.variables or {}
        fields = root_fields(document, execution.operation_name, variables)
        payments = fields.named(PAY_FIELD) if fields.mutation else []
        if not payments:
            return None
        context: Context = execution.context
        principal = context.principal
        if principal is None:
            return unauthenticated()
        if Gate.denies(principal, [_clone_id(field, variables) for field in payments]):
            return forbidden()
        if context.gate is None:
            return None
        decision = await context.gate.consume(principal, context.client_ip, cost=len(payments))
        return None if decision.allowed else rate_limited(decision)
