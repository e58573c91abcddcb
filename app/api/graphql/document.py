"""The root fields of the operation a GraphQL request will run, found as graphql-core finds
them: the one walker for every check that reads a document before any resolver
(app.api.graphql.observe names and counts, app.api.graphql.payment_gate gates).

- the operation is chosen by `operationName` as graphql-core chooses it (none when the
  name matches nothing, or is missing and the document has several operations);
- fragments at the root, inline or spread, are followed (a named one once, as graphql-core
  does, so a cycle in an invalid document ends);
- `@skip(if:)` and `@include(if:)` are evaluated against the request's variables (and the
  operation's defaults); a value that is not a boolean leaves the field in, since
  graphql-core then refuses the variables before any resolver runs;
- fields of one response key (alias or name) are one field: graphql-core runs them once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    value_from_ast_untyped,
)
from graphql.utilities import get_operation_ast

from app.api.graphql.caches import derived

SKIP = "skip"
INCLUDE = "include"


@dataclass(frozen=True)
class RootFields:
    """The operation's type (None when no operation will run) and its root fields, one per
    response key, in document order."""

    operation: OperationType | None
    fields: tuple[FieldNode, ...]

    @property
    def mutation(self) -> bool:
        return self.operation == OperationType.MUTATION

    @property
    def names(self) -> list[str]:
        return [field.name.value for field in self.fields]

    def named(self, name: str) -> list[FieldNode]:
        return [field for field in self.fields if field.name.value == name]


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def _with_defaults(
    operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    values = dict(variables or {})
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


def _included(
    node: FieldNode | InlineFragmentNode | FragmentSpreadNode, variables: dict[str, Any]
) -> bool:
    for directive in node.directives or ():
        name = directive.name.value
        if name not in (SKIP, INCLUDE):
            continue
        condition = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
        value = None if condition is None else value_from_ast_untyped(condition, variables)
        if not isinstance(value, bool):
            continue  # not decidable: execution refuses these variables before any resolver
        if value == (name == SKIP):
            return False
    return True


def _walk(
    selections: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    visited: set[str],
    fields: dict[str, FieldNode],
) -> None:
    for selection in selections.selections:
        if not isinstance(selection, FieldNode | InlineFragmentNode | FragmentSpreadNode):
            continue
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            fields.setdefault((selection.alias or selection.name).value, selection)
        elif isinstance(selection, InlineFragmentNode):
            _walk(selection.selection_set, fragments, variables, visited, fields)
        else:
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in visited:
                visited.add(name)
                _walk(fragment.selection_set, fragments, variables, visited, fields)


def root_fields(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> RootFields:
    """The root fields the request (`document`, `operationName`, `variables`) will run."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return RootFields(None, ())
    # The fragments are the document's alone: found once per cached document.
    fragments = derived(document, "fragments", _fragments)
    fields: dict[str, FieldNode] = {}
    values = _with_defaults(operation, variables)
    _walk(operation.selection_set, fragments, values, set(), fields)
    return RootFields(operation.operation, tuple(fields.values()))
