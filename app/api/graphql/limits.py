"""Protections of the GraphQL endpoint: every document is measured before any resolver runs.

Limits (all environments):

- `MAX_DEPTH` = 11 levels of nested selections (Strawberry's `QueryDepthLimiter`; leaves
  and introspection fields do not count). The longest path through our schema that never
  visits a type twice is exactly 11 levels, e.g.
  `invoices → edges → node → customer → wallets → transactions → edges → node → refund
  → payment → amount { amount }`, so every query that does not walk round a cycle
  (Invoice → Customer → Wallet → … → Invoice) fits; test_graphql_limits.py recomputes
  that path from the schema, so a deeper schema cannot outgrow the limit unnoticed.
- `MAX_ALIASES` = 20 aliased fields per document (`MaxAliasesLimiter`): enough to read
  several wallets side by side or pay a page of invoices in one mutation, while one
  document can no longer repeat an expensive field (or a payment) dozens of times.
- `MAX_TOKENS` = 1000 lexical tokens per document (`MaxTokensLimiter`, enforced by the
  parser itself, so an oversized document is never even fully parsed). GraphiQL's
  introspection query, with every option, is about 200 tokens; our largest real
  queries are under 100. It also bounds validation, whose overlapping-fields rule is
  quadratic in the number of fields.

Batching (a JSON array of operations in one request) stays off: Strawberry answers 400
unless `StrawberryConfig.batching_config` is set, and we never set it.

Production (`ENVIRONMENT=production`) locks the schema: "Did you mean …" suggestions are
not shown (they would reveal the schema piece by piece) and introspection (`__schema`,
`__type`) is refused; `__typename` always works. `GRAPHIQL=on` in production unlocks both
(GraphiQL needs introspection, and suggestions then reveal nothing more) and serves the
GraphiQL page. In development everything stays on.

Every document refused before execution (too deep, too many aliases or tokens,
introspection refused, any other syntax or validation error) is a top-level error with
`extensions.code` = `GRAPHQL_VALIDATION_FAILED` and `data: null`; no resolver has run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
    max_aliases,
    query_depth_limiter,
)
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult
from strawberry.types.execution import StreamExecutionResult

MAX_DEPTH = 11
MAX_ALIASES = 20
MAX_TOKENS = 1000

REFUSED = "GRAPHQL_VALIDATION_FAILED"
BAD_VARIABLES = "BAD_USER_INPUT"

# graphql-core appends every suggestion as " Did you mean 'a', 'b', or 'c'?" (optionally
# "the enum value 'a'?"); GraphQL names cannot hold a "?", so the first one ends it.
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")

ExtensionFactory = Callable[[], SchemaExtension]
# A result over HTTP, or one of those a websocket operation sends, one by one.
Results = (ExecutionResult, StrawberryExecutionResult)

# The depth and alias rules as classes made once (Strawberry's `QueryDepthLimiter` and
# `MaxAliasesLimiter` make new ones for every request): the same rules each time let a
# document's validation be cached (app/api/graphql/caches.py).
DEPTH_RULE = query_depth_limiter.create_validator(MAX_DEPTH, should_ignore=None)
ALIAS_RULE = max_aliases.create_validator(MAX_ALIASES)


def _replace(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=extensions,
    )


class CodeRefusedDocuments(SchemaExtension):
    """Give every error of a document refused before execution (parsing or validation,
    the limits included) the code `GRAPHQL_VALIDATION_FAILED`, and every error about the
    variables' values (found as execution starts, before any resolver) `BAD_USER_INPUT`,
    unless it has a code already."""

    def __init__(self) -> None:
        self.executed = False

    def on_execute(self) -> Iterator[None]:
        self.executed = True
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        self._code(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """The same over a websocket, where each result is sent as it comes."""
        self._code(result)
        yield

    def _code(self, result: object) -> None:
        if not isinstance(result, Results) or not result.errors:
            return
        code = BAD_VARIABLES if self.executed else REFUSED
        result.errors = [
            error
            if "code" in (error.extensions or {}) or error.path is not None
            else _replace(error, error.message, {**(error.extensions or {}), "code": code})
            for error in result.errors
        ]


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


class HideSuggestions(SchemaExtension):
    """Strip "Did you mean …" from every error: from validation (unknown fields,
    arguments, types, enum values) and from coercing variables during execution alike.
    Strawberry's `disable_field_suggestions` only covers unknown fields."""

    def on_operation(self) -> Iterator[None]:
        yield
        self._strip(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._strip(result)
        yield

    def _strip(self, result: object) -> None:
        if not isinstance(result, Results) or not result.errors:
            return
        result.errors = [
            _replace(error, without_suggestions(error.message), dict(error.extensions or {}))
            if _SUGGESTION.search(error.message)
            else error
            for error in result.errors
        ]


def limit_extensions(*, locked: bool) -> list[ExtensionFactory]:
    """The protections, in the order they must run; factories, so each request gets
    its own extension instances."""
    extensions: list[ExtensionFactory] = [
        CodeRefusedDocuments,
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(AddValidationRules, [DEPTH_RULE, ALIAS_RULE]),
    ]
    if locked:
        extensions += [HideSuggestions, DisableIntrospection]
    return extensions
