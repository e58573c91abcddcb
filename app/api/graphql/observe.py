"""What a GraphQL request did, for metrics and logs (app.observability):

- `NameOperation` (schema extension) names the request's operation by its root field
  (`payInvoice`, `viewer`, …), `multiple` for several, `introspection`, or `invalid` for a
  document that did not parse or validate; and counts the `payInvoice` fields of a
  document refused before any resolver ran (token, guard, rate limit, input) as
  payment attempts with that gate's outcome.
- `PaymentOutcome` (field extension of `payInvoice`) counts each payment by the union
  member it answered, or by the failure it raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types import Info

from app.api.graphql.document import root_fields
from app.observability import metrics
from app.observability.request_info import current_request, note_operation

PAY_FIELD = "payInvoice"
INVALID = "invalid"
MULTIPLE = "multiple"
INTROSPECTION = "introspection"


def operation_label(names: list[str]) -> str:
    """One root field's name, from a validated document (so one of the schema's)."""
    distinct = {name for name in names if name != "__typename"}
    if not distinct:
        return INTROSPECTION if names else INVALID
    if len(distinct) > 1:
        return MULTIPLE
    (name,) = distinct
    return INTROSPECTION if name.startswith("__") else name


def refusal_outcome(errors: list[GraphQLError]) -> str:
    """The outcome of payments refused before their resolver ran, by the first error
    that says why."""
    for error in errors:
        code = (error.extensions or {}).get("code")
        if isinstance(code, str) and code in metrics.OUTCOME_OF_CODE:
            return metrics.OUTCOME_OF_CODE[code]
        original = error.original_error
        if original is not None and not isinstance(original, GraphQLError | ValueError):
            return metrics.failure_outcome(original)
    return metrics.INVALID_INPUT


class NameOperation(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        info = current_request()
        if info is None:  # not an HTTP request (a websocket): nothing to name
            return
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            mutation, names = False, []
        else:
            fields = root_fields(document, context.operation_name, context.variables)
            mutation, names = fields.mutation, fields.names
        valid = bool(names) and not context.pre_execution_errors
        note_operation(operation_label(names) if valid else INVALID)
        payments = names.count(PAY_FIELD) if mutation else 0
        result = context.result
        if payments and not info.payments and result is not None and result.errors:
            metrics.record_payment("graphql", refusal_outcome(result.errors), count=payments)


class PaymentOutcome(FieldExtension):
    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: Info[Any, Any],
        **kwargs: Any,
    ) -> Any:
        try:
            result = await next_(source, info, **kwargs)
        except GraphQLError as error:
            code = (error.extensions or {}).get("code")
            metrics.record_payment(
                "graphql", metrics.OUTCOME_OF_CODE.get(str(code), metrics.UNEXPECTED)
            )
            raise
        except Exception as error:
            metrics.record_payment("graphql", metrics.failure_outcome(error))
            raise
        metrics.record_payment(
            "graphql", type(result).__name__, bool(getattr(result, "replayed", False))
        )
        return result
