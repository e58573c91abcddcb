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

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.types import Info

from app.observability import metrics
from app.observability.request_info import current_request, note_operation

PAY_FIELD = "payInvoice"
INVALID = "invalid"
MULTIPLE = "multiple"
INTROSPECTION = "introspection"


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[str]:
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _root_fields(fragment.selection_set, fragments)


def root_fields(document: DocumentNode, operation_name: str | None) -> tuple[bool, list[str]]:
    """(whether the operation is a mutation, its root fields' names), or (False, [])."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return False, []
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    names = list(_root_fields(operation.selection_set, fragments))
    return operation.operation == OperationType.MUTATION, names


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
        mutation, names = root_fields(document, context.operation_name) if document else (False, [])
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
