"""Every domain error a mutation can raise is a member of that mutation's result union, so
`maps_domain_errors` never answers a type the union lacks (a masked 500). What a mutation
can raise is read from the code it reaches: every domain error it constructs."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import pytest
from graphql import GraphQLNonNull, GraphQLUnionType
from strawberry.types.base import get_object_definition

from app.api.graphql.errors import graphql_type
from app.api.graphql.mutations import Mutation
from app.api.graphql.schema import schema
from app.errors import DomainError


def _target(node: ast.expr, namespace: dict[str, Any]) -> object:
    """What a name or a dotted name through modules and classes refers to, if known."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _target(node.value, namespace)
        if inspect.ismodule(base) or inspect.isclass(base):
            return getattr(base, node.attr, None)
    return None


def raisable(function: object, seen: set[object] | None = None) -> set[type]:
    """The domain errors `function` and the app functions it names construct."""
    seen = set() if seen is None else seen
    if callable(function):
        function = inspect.unwrap(function)
    if not inspect.isfunction(function) or function in seen:
        return set()
    seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found: set[type] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            made = _target(node.func, function.__globals__)
            if inspect.isclass(made) and issubclass(made, DomainError) and made is not DomainError:
                found.add(made)
        if isinstance(node, ast.Name | ast.Attribute):
            named = _target(node, function.__globals__)
            if inspect.isfunction(named) and named.__module__.startswith("app."):
                found |= raisable(named, seen)
    return found


MUTATIONS = {
    schema.config.name_converter.from_field(field): field
    for field in get_object_definition(Mutation, strict=True).fields
}


def union_members(mutation: str) -> set[str]:
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    result = mutation_type.fields[mutation].type
    union = result.of_type if isinstance(result, GraphQLNonNull) else result
    assert isinstance(union, GraphQLUnionType), mutation
    return {member.name for member in union.types}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_every_domain_error_a_mutation_raises_is_a_member_of_its_union(mutation: str) -> None:
    # given the domain errors the mutation's resolver can reach
    resolver = MUTATIONS[mutation].base_resolver
    assert resolver is not None
    raised = raisable(resolver.wrapped_func)
    assert raised, f"{mutation} reaches no domain error: the walk above lost its way"
    # then each is answered with a member of the mutation's union
    members = union_members(mutation)
    missing = {cls.__name__ for cls in raised if graphql_type(cls).__name__ not in members}
    assert not missing, f"{mutation} can raise {sorted(missing)}, not in its union"


def test_pay_invoice_reaches_each_error_of_designs_check_table() -> None:
    # the walk finds what the union promises, so it is not blind to how payments are made
    resolver = MUTATIONS["payInvoice"].base_resolver
    assert resolver is not None
    found = {cls.__name__ for cls in raisable(resolver.wrapped_func)}
    assert found == union_members("payInvoice") - {"PayInvoiceSuccess"}
