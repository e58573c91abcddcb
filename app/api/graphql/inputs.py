"""Input objects built from their variables with the per-type work done once.

For every input object of every request Strawberry (0.341) walks the type's fields, asks
the name converter for each field's GraphQL name (`to_camel_case`), resolves each field's
annotation and recurses through `convert_argument` even for plain scalars, which graphql-core
has already coerced: about 7 % of the CPU of a GraphQL payment (py-spy, `make bench
BENCH_ARGS=--profile`; `PayInvoiceInput` has twelve scalar fields).

`fast_inputs(schema)` gives each input type of the schema a `from_input` (Strawberry's
documented hook for "input types that build their own value") that learns the type once:
its fields' GraphQL and Python names, their defaults, and which are leaves (a scalar or an
enum, however optional: their value is used as graphql-core coerced it, exactly as
Strawberry's own conversion returns it). Any other field (a list, a nested input, a
global id, `Maybe`) still goes through Strawberry's conversion (`InputContext.convert`),
and an input type with a `Maybe` field, or its own `from_input`, is left to Strawberry
altogether (its null-checking validation rule skips types that build their own value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from typing import Any

import strawberry
from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.types.concrete_type import ConcreteType
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition


@dataclass(frozen=True)
class Field:
    graphql_name: str
    python_name: str
    type: StrawberryType | type
    leaf: bool


@dataclass(frozen=True)
class Plan:
    defaults: dict[str, None]  # fields with no default of their own start as None
    fields: tuple[Field, ...]


_PLANS: dict[type, Plan] = {}


def fast_inputs(schema: strawberry.Schema) -> None:
    """Give every input type of `schema` that Strawberry would convert field by field
    the `from_input` below."""
    for concrete in schema.schema_converter.type_map.values():
        definition = _input_definition(concrete)
        if definition is not None:
            definition.from_input = build_input


def _input_definition(concrete: ConcreteType) -> StrawberryObjectDefinition | None:
    definition = concrete.definition
    if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_input:
        return None
    if definition.from_input is not None:
        return None
    if any(isinstance(field.type, StrawberryMaybe) for field in definition.fields):
        return None
    return definition


def build_input(type_: type, value: Mapping[str, Any], context: InputContext) -> Any:
    """`type_` from its coerced variables `value`, as Strawberry would build it."""
    plan = _PLANS.get(type_)
    if plan is None:
        plan = _PLANS[type_] = _plan(type_, context)
    kwargs: dict[str, Any] = dict(plan.defaults)
    for field in plan.fields:
        if field.graphql_name in value:
            item = value[field.graphql_name]
            kwargs[field.python_name] = (
                item if field.leaf else context.convert(item, field.type, field.graphql_name)
            )
    return type_(**kwargs)


def _plan(type_: type, context: InputContext) -> Plan:
    definition: StrawberryObjectDefinition = type_.__strawberry_definition__  # type: ignore[attr-defined]
    fields = []
    for field in definition.fields:
        resolved = field.resolve_type(type_definition=definition)
        fields.append(
            Field(
                graphql_name=context.config.name_converter.from_field(field),
                python_name=field.python_name,
                type=resolved,
                leaf=_leaf(resolved, context),
            )
        )
    defaults = {
        field.python_name: None
        for field in definition.fields
        if field.default_value is MISSING and field.default_factory is MISSING
    }
    return Plan(defaults, tuple(fields))


def _leaf(type_: StrawberryType | type, context: InputContext) -> bool:
    """A scalar or an enum, however optional: Strawberry returns its value unchanged."""
    while isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    if type_ is GlobalID:
        return False
    return (
        isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
        or is_scalar(type_, context.scalar_registry)
    )
