"""Each distinct document is parsed and validated once per process, not per request.

Clients send the same few documents over and over (their operations, with variables),
and graphql-core's parser and validator were a third of a `payInvoice` request's CPU.
A document is found by its text; its validation by the schema, the text and the rules
(the rules are the same classes every time: app/api/graphql/limits.py). Only documents that
parsed and passed validation are kept, in bounded LRU maps, so a client sending new
text every time costs what it did before and can never grow the memory.

Kept over Strawberry's `ParserCache` + `ValidationCache` (`python -m bench.graphql_caches`,
3000 payInvoice requests each through the ASGI app on SQLite, 2 shared cores): CPU per
request 12,579 µs ours, 12,925 µs theirs (fastest block 9,900 / 10,822); the parse and
validate step alone 2.5 µs ours, 10.2 µs theirs (their validation key hashes the whole
document tree). Theirs would keep `derived` working (the same DocumentNode per text), but
is not faster, replaces a document already in the context, and also fills with invalid ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

MAX_DOCUMENTS = 512
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)


_PARSED: _Lru[tuple[str, tuple[tuple[str, object], ...]], DocumentNode] = _Lru(MAX_DOCUMENTS)
_VALID: _Lru[tuple[int, str, tuple[type, ...]], bool] = _Lru(MAX_DOCUMENTS)


_DERIVED: _Lru[tuple[int, str], tuple[DocumentNode, Any]] = _Lru(MAX_DOCUMENTS)


def derived(document: DocumentNode, name: str, compute: Callable[[DocumentNode], T]) -> T:
    """`compute(document)`, once per cached document (what a check reads off a document
    alone, such as its string literals, is the same for every request that sends it)."""
    key = (id(document), name)
    hit = _DERIVED.get(key)
    if hit is not None and hit[0] is document:
        return cast("T", hit[1])
    value = compute(document)
    _DERIVED.put(key, (document, value))  # the document is kept, so its id is not reused
    return value


def parsed(query: str, options: Mapping[str, Any]) -> DocumentNode | None:
    """`query` parsed with the parser `options`, through the cache; None when it does
    not parse (Strawberry then parses it again and answers the error)."""
    key = (query, tuple(sorted(options.items())))
    document = _PARSED.get(key)
    if document is None:
        try:
            document = parse(query, **options)
        except GraphQLError:
            return None
        _PARSED.put(key, document)
    return document


class DocumentCache(SchemaExtension):
    """Parse and validate through the caches; Strawberry skips its own steps when a
    document (or its validation errors) is already in the execution context."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            context.graphql_document = parsed(context.query, context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.query is not None and document is not None and context.validation_rules:
            key = (id(context.schema), context.query, tuple(context.validation_rules))
            if _VALID.get(key):
                context.pre_execution_errors = []
            else:
                errors = validate_document(
                    context.schema._schema, document, context.validation_rules
                )
                if not errors:
                    _VALID.put(key, True)
                context.pre_execution_errors = errors
        yield
