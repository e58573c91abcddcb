"""What a document may ask for: its cost, computed before anything runs.

GitHub's node formula: every field that returns an object (or a list of objects) costs
1, times the page size of every connection above it. A connection is a field with a
`first` argument: its page size is `first` (a literal, or the variable's value), else
the connection's default (20). A list without pagination counts as its documented
maximum (`LIST_MAXIMA`); a connection's own `edges` list is its page, already counted.
Leaves (scalars, enums) and introspection (`__schema`, `__type`, bounded by the schema
itself) cost nothing. Every fragment counts, as if each could apply.

    invoices(first: 100) { edges { node { total { amount } } } }
    = invoices 1 + edges 100 + node 100 + total 100 = 301

A document costing more than `GRAPHQL_MAX_COST` (default 10,000) is refused with a
top-level error coded `QUERY_TOO_COMPLEX` (`extensions.cost`, `extensions.maxCost`)
before any resolver or statement runs; subscriptions are costed the same way.

The document's shape is read once per cached document (app/api/graphql/caches.py) into a
small plan; a request only multiplies its page sizes, so a document without `first: $n`
has a constant cost and a payment pays one dictionary lookup for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from app.api.graphql.caches import derived
from app.api.graphql.types import (
    DEFAULT_PAGE,
    MAX_INVOICE_PAYMENTS,
    MAX_PAGE,
    MAX_PAYMENT_REFUNDS,
    MAX_WALLETS,
)
from app.webhooks.endpoints import MAX_ENDPOINTS

DEFAULT_MAX_COST = 10_000
TOO_COMPLEX = "QUERY_TOO_COMPLEX"

# Every list of objects that takes no `first`, with the most it can ever hold (its
# resolver never returns more); tests/api/graphql/test_graphql_cost.py checks none is missing.
LIST_MAXIMA: dict[tuple[str, str], int] = {
    ("Query", "wallets"): MAX_WALLETS,
    ("Customer", "wallets"): MAX_WALLETS,
    ("Invoice", "payments"): MAX_INVOICE_PAYMENTS,
    ("Payment", "refunds"): MAX_PAYMENT_REFUNDS,
    ("Query", "webhookEndpoints"): MAX_ENDPOINTS,
}


@dataclass(frozen=True)
class Page:
    """How many objects a field multiplies those below it by: a fixed number, or the
    value of the variable `variable` (when given; else `fixed`)."""

    fixed: int
    variable: str | None = None

    def size(self, variables: Mapping[str, Any]) -> int:
        if self.variable is not None:
            value = variables.get(self.variable)
            # A value of the wrong type is refused by the variables' coercion anyway.
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, value)
        return self.fixed


@dataclass(frozen=True)
class Term:
    """One object field: it costs 1, and its children cost `page` times theirs."""

    page: Page
    children: tuple[Term, ...]


@dataclass(frozen=True)
class Plan:
    """An operation's cost: `constant`, plus the terms whose page depends on variables."""

    constant: int
    terms: tuple[Term, ...]

    def cost(self, variables: Mapping[str, Any]) -> int:
        return self.constant + _cost(self.terms, variables)


def _cost(terms: tuple[Term, ...], variables: Mapping[str, Any]) -> int:
    return sum(1 + term.page.size(variables) * _cost(term.children, variables) for term in terms)


def _is_static(term: Term) -> bool:
    return term.page.variable is None and all(_is_static(child) for child in term.children)


class _Planner:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults: dict[str, int] = {}

    def operation(self, operation: OperationDefinitionNode) -> Plan:
        self.defaults = {
            d.variable.name.value: int(d.default_value.value)
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        root = self.schema.get_root_type(operation.operation)
        assert root is not None  # the document passed validation
        terms = tuple(self.terms(operation.selection_set, root))
        static = tuple(term for term in terms if _is_static(term))
        dynamic = tuple(term for term in terms if not _is_static(term))
        return Plan(_cost(static, {}), dynamic)

    def fields(self, selections: SelectionSetNode, parent: Any) -> Iterator[tuple[FieldNode, Any]]:
        """Each field with the type it is selected on (fragments on their condition)."""
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = parent if condition is None else self.schema.get_type(condition.name.value)
                yield from self.fields(selection.selection_set, on)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                on = self.schema.get_type(fragment.type_condition.name.value)
                yield from self.fields(fragment.selection_set, on)

    def terms(self, selections: SelectionSetNode, parent: Any) -> Iterator[Term]:
        for node, on in self.fields(selections, parent):
            name = node.name.value
            if name.startswith("__") or not isinstance(
                on, GraphQLObjectType | GraphQLInterfaceType
            ):
                continue
            field = on.fields[name]
            if not is_composite_type(get_named_type(field.type)) or node.selection_set is None:
                continue
            inner = get_named_type(field.type)
            yield Term(self.page(node, on, field), tuple(self.terms(node.selection_set, inner)))

    def page(self, node: FieldNode, on: Any, field: Any) -> Page:
        if "first" in field.args:
            for argument in node.arguments or ():
                if argument.name.value != "first":
                    continue
                if isinstance(argument.value, IntValueNode):
                    return Page(max(0, int(argument.value.value)))
                if isinstance(argument.value, VariableNode):
                    variable = argument.value.name.value
                    return Page(self.defaults.get(variable, DEFAULT_PAGE), variable)
            return Page(DEFAULT_PAGE)
        if not is_list_type(get_nullable_type(field.type)):
            return Page(1)
        if on.name.endswith("Connection"):
            return Page(1)  # `edges`: the connection's page, counted at the connection
        return Page(LIST_MAXIMA.get((on.name, node.name.value), MAX_PAGE))


def plans(schema: GraphQLSchema, document: DocumentNode) -> dict[str | None, Plan]:
    """Each operation's plan, by name (None for an anonymous one)."""
    planner = _Planner(schema, document)
    return {
        (d.name.value if d.name else None): planner.operation(d)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


def document_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """The cost of the operation `operation_name` of a valid document (0 if it has none)."""
    by_name = derived(document, "cost", lambda d: plans(schema, d))
    plan = by_name.get(operation_name)
    if plan is None and operation_name is None and len(by_name) == 1:
        plan = next(iter(by_name.values()))
    return 0 if plan is None else plan.cost(variables or {})


def too_complex(cost: int, max_cost: int) -> GraphQLError:
    return GraphQLError(
        f"Query is too complex: its cost is {cost}, more than the maximum of {max_cost}",
        extensions={"code": TOO_COMPLEX, "cost": cost, "maxCost": max_cost},
    )


class CostLimit(SchemaExtension):
    """Refuse, after validation and before execution, a document costing over `max_cost`
    (placed after DocumentCache, whose validation it relies on)."""

    def __init__(self, *, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        # Strawberry reads the errors before the hooks' exits: check on the way in, after
        # DocumentCache (earlier in the list) has validated; an empty list means valid.
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors == []:
            cost = document_cost(
                context.schema._schema, document, context.operation_name, context.variables
            )
            if cost > self.max_cost:
                context.pre_execution_errors = [too_complex(cost, self.max_cost)]
        yield
