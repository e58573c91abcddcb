"""GraphQL protections: depth, alias and token limits, no batching, and in production no
introspection, no field suggestions and no GraphiQL (unless GRAPHIQL=on). Every refused
document is refused before any resolver runs."""

from __future__ import annotations

from typing import Any

import httpx
from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    Lexer,
    Source,
    TokenKind,
    get_introspection_query,
    get_named_type,
    is_abstract_type,
    is_composite_type,
)
from graphql import build_schema as schema_from_sdl

from app.api.graphql.limits import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, REFUSED
from app.api.graphql.schema import build_schema, schema, schema_for
from app.config import Settings
from app.db.engine import Database
from tests.support import (
    client_for,
    error_codes,
    gql,
    wallet_books,
)
from tests.support.snapshots import counting_statements, snapshot
from tests.support.world import World, invoice, make_payment, make_world

INVOICE = 100123
PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename ... on Error { code } }
}
"""
# Depth 11: the longest path of the schema that visits no type twice.
DEEPEST = """
query Deepest {
  invoices(first: 10) { edges { node {
    number
    customer { wallets {
      currency
      transactions(first: 10) { edges { node {
        kind
        payment { amount { amount currency } }
        refund { payment { amount { amount currency } } }
      } } }
    } }
  } } }
}
"""
# The same, one level deeper (payment → invoice → total).
TOO_DEEP = DEEPEST.replace(
    "refund { payment { amount { amount currency } } }",
    "refund { payment { invoice { total { amount } } } }",
)
# Depth 12, and a payment would be made if it ran.
TOO_DEEP_PAYMENT = """
mutation Deep($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    ... on PayInvoiceSuccess {
      invoice { customer { wallets { transactions { edges { node {
        payment { invoice { customer { wallets { balance { amount } } } } }
      } } } } } }
    }
  }
}
"""
GRAPHIQL_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    one_of=True,
)
PRODUCTION: dict[str, Any] = {"environment": "production", "graphiql": False}
GRAPHIQL_ON: dict[str, Any] = {"environment": "production", "graphiql": True}
# A development server, a production one, and a production one with GRAPHIQL=on.
MODES: dict[str, dict[str, Any]] = {
    "development": {},
    "production": PRODUCTION,
    "production+graphiql": GRAPHIQL_ON,
}


def a_payment(amount: str = "100") -> dict[str, Any]:
    return {"input": {"invoiceNumber": INVOICE, "currency": "NGN", "amount": amount}}


def aliased_payments(count: int) -> str:
    """One mutation paying `a_payment()` `count` times, each under its own alias."""
    fields = "\n".join(
        f"  pay{i}: payInvoice(input: $input) {{ __typename }}" for i in range(count)
    )
    return f"mutation Many($input: PayInvoiceInput!) {{\n{fields}\n}}"


def token_count(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def payment_of_tokens(tokens: int) -> str:
    """A valid payInvoice document of exactly `tokens` tokens, padded with cheap fragment
    spreads (`...Paid` is two tokens; an extra `__typename` makes up an odd count)."""
    head = "mutation Pay($input: PayInvoiceInput!) { payInvoice(input: $input) { __typename "
    tail = "} } fragment Paid on PayInvoiceSuccess { replayed }"
    spare = tokens - token_count(head + tail)
    padding = "...Paid " * (spare // 2) + "__typename " * (spare % 2)
    document = head + padding + tail
    assert token_count(document) == tokens
    return document


def refused(result: dict[str, Any], message: str) -> None:
    """A document refused before execution: no data, and coded top-level errors."""
    assert result["data"] is None, result
    assert set(error_codes(result)) == {REFUSED}, result
    assert any(message in error["message"] for error in result["errors"]), result


async def sql_of(
    db: Database, client: httpx.AsyncClient, query: str, token: str
) -> tuple[dict[str, Any], list[str]]:
    """The answer to `query`, and every SQL statement run to give it."""
    with counting_statements(db) as statements:
        result = await gql(client, query, None, token)
    return result, list(statements)


async def given_ada_owes(db: Database) -> World:
    """Ada (NGN 50000) owes invoice 100123 of 15000 NGN, 5000 of it paid already."""
    world = await make_world(db)
    await invoice(db, INVOICE, world.ada, "15000")
    await make_payment(db, world.ada, INVOICE, "5000")
    return world


# --- depth ---


def deepest_paths(sdl: GraphQLSchema) -> list[list[str]]:
    """For each root type, the deepest selection path (fields with a selection set) that
    never enters an object type twice, counted as QueryDepthLimiter counts."""

    def deepest(parent: GraphQLObjectType, seen: frozenset[str]) -> list[str]:
        best: list[str] = []
        for name, field in parent.fields.items():
            target = get_named_type(field.type)
            if not is_composite_type(target):
                continue
            concrete = sdl.get_possible_types(target) if is_abstract_type(target) else [target]
            for child in concrete:
                assert isinstance(child, GraphQLObjectType)
                path = (
                    [name] if child.name in seen else [name, *deepest(child, seen | {child.name})]
                )
                best = max(best, path, key=len)
        return best

    roots = [sdl.query_type, sdl.mutation_type]
    return [deepest(root, frozenset({root.name})) for root in roots if root is not None]


def test_the_depth_limit_admits_every_query_that_visits_no_type_twice() -> None:
    # given the exported schema
    sdl = schema_from_sdl(schema.as_str())
    # when we walk its longest paths that enter no object type twice
    paths = deepest_paths(sdl)
    # then every one of them fits, and the deepest fills the limit exactly
    assert max(len(path) for path in paths) == MAX_DEPTH, paths


async def test_the_deepest_legitimate_query_works(db: Database) -> None:
    # given Ada's invoice with a payment
    world = await given_ada_owes(db)
    async with client_for(db) as client:
        # when she asks for it at the full allowed depth
        result = await gql(client, DEEPEST, token=world.ada_token)
    # then she gets the payment at the bottom of invoice → customer → wallet → history
    assert "errors" not in result, result
    [edge] = result["data"]["invoices"]["edges"]
    assert edge["node"]["number"] == INVOICE
    entries = [
        entry["node"]
        for wallet in edge["node"]["customer"]["wallets"]
        for entry in wallet["transactions"]["edges"]
    ]
    assert [e["payment"] for e in entries if e["kind"] == "PAYMENT"] == [
        {"amount": {"amount": "5000.00", "currency": "NGN"}}
    ]


async def test_a_query_one_level_too_deep_is_refused_before_any_resolver(db: Database) -> None:
    # given Ada's invoice with a payment
    world = await given_ada_owes(db)
    async with client_for(db) as client:
        # when she asks one level deeper than allowed
        _, baseline = await sql_of(db, client, "{ __typename }", world.ada_token)
        result, statements = await sql_of(db, client, TOO_DEEP, world.ada_token)
    # then it is refused, and no resolver read anything (only her token was checked)
    refused(result, f"exceeds maximum operation depth of {MAX_DEPTH}")
    assert statements == baseline


async def test_a_too_deep_payment_is_refused_and_pays_nothing(db: Database) -> None:
    # given Ada, who can pay 100 of her invoice
    world = await given_ada_owes(db)
    before = await snapshot(db)
    async with client_for(db) as client:
        # when she pays it asking for a result nested deeper than allowed
        result = await gql(client, TOO_DEEP_PAYMENT, a_payment(), world.ada_token)
        after = await snapshot(db)
        # and then with a plain document
        plain = await gql(client, PAY, a_payment(), world.ada_token)
    # then the deep one is refused and wrote nothing; the same payment was payable
    refused(result, f"exceeds maximum operation depth of {MAX_DEPTH}")
    assert after == before
    assert plain["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess", plain


# --- aliases ---


async def test_fifty_aliased_payments_are_refused_before_any_runs(db: Database) -> None:
    # given Ada, whose wallet could pay her invoice 100 at a time
    world = await given_ada_owes(db)
    before = await snapshot(db)
    wallet_before = await wallet_books(db, world.ada, "NGN")
    async with client_for(db) as client:
        # when she sends 50 aliased payInvoice mutations in one document
        result = await gql(client, aliased_payments(50), a_payment(), world.ada_token)
    # then the whole document is refused: no payment, wallet untouched
    refused(result, f"50 aliases found. Allowed: {MAX_ALIASES}")
    assert await snapshot(db) == before
    assert await wallet_books(db, world.ada, "NGN") == wallet_before


async def test_up_to_the_alias_limit_every_aliased_payment_runs(db: Database) -> None:
    # given Ada with NGN 45000 after her first payment
    world = await given_ada_owes(db)
    async with client_for(db) as client:
        # when she sends exactly MAX_ALIASES aliased payments of 100
        result = await gql(client, aliased_payments(MAX_ALIASES), a_payment(), world.ada_token)
    # then each of them is made
    assert "errors" not in result, result
    assert list(result["data"].values()) == [{"__typename": "PayInvoiceSuccess"}] * MAX_ALIASES
    books = await wallet_books(db, world.ada, "NGN")
    assert books.balance == (45000 - 100 * MAX_ALIASES) * 100


# --- tokens ---


async def test_a_document_over_the_token_limit_is_refused_and_pays_nothing(
    db: Database,
) -> None:
    # given Ada, who can pay 100 of her invoice
    world = await given_ada_owes(db)
    before = await snapshot(db)
    async with client_for(db) as client:
        # when she pays with a document one token over the limit
        result = await gql(client, payment_of_tokens(MAX_TOKENS + 1), a_payment(), world.ada_token)
        after = await snapshot(db)
        # and then with the same document cut to the limit
        at_limit = await gql(client, payment_of_tokens(MAX_TOKENS), a_payment(), world.ada_token)
    # then the first is refused unparsed and wrote nothing; the second pays
    refused(result, f"Document contains more than {MAX_TOKENS} tokens")
    assert after == before
    assert "errors" not in at_limit, at_limit
    assert at_limit["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess"


# --- batching ---


async def test_a_batch_of_operations_is_refused_and_pays_nothing(db: Database) -> None:
    # given Ada, who can pay 100 of her invoice
    world = await given_ada_owes(db)
    before = await snapshot(db)
    batch = [{"query": PAY, "variables": a_payment()}] * 2
    headers = {"Authorization": f"Bearer {world.ada_token}"}
    for settings in ({}, PRODUCTION):
        async with client_for(db, **settings) as client:
            # when she posts a JSON array of two payments, in either environment
            response = await client.post("/graphql", json=batch, headers=headers)
        # then the request is refused as a whole and nothing is written
        assert response.status_code == 400, (settings, response.text)
        assert "Batching is not enabled" in response.text
        assert await snapshot(db) == before


# --- production: introspection, suggestions, GraphiQL ---


async def test_production_refuses_introspection_before_any_resolver(db: Database) -> None:
    # given a production server with GraphiQL off
    world = await make_world(db)
    async with client_for(db, **PRODUCTION) as client:
        # when Ada asks for the schema beside her own data, or for one type
        _, baseline = await sql_of(db, client, "{ __typename }", world.ada_token)
        schema_query = "{ viewer { id } __schema { queryType { name } } }"
        by_schema, statements = await sql_of(db, client, schema_query, world.ada_token)
        by_type = await gql(client, '{ __type(name: "Invoice") { name } }', None, world.ada_token)
        typename = await gql(client, "{ __typename }", None, world.ada_token)
    # then both are refused without running the viewer resolver; __typename still works
    refused(by_schema, "introspection has been disabled")
    assert statements == baseline
    refused(by_type, "introspection has been disabled")
    assert typename == {"data": {"__typename": "Query"}}


async def test_development_and_graphiql_on_allow_graphiqls_introspection(db: Database) -> None:
    # given a development server, and a production one with GRAPHIQL=on
    world = await make_world(db)
    for settings in ({}, GRAPHIQL_ON):
        async with client_for(db, **settings) as client:
            # when GraphiQL loads the schema (its full introspection query)
            result = await gql(client, GRAPHIQL_INTROSPECTION, None, world.ada_token)
        # then it gets it, within every limit
        assert "errors" not in result, (settings, result)
        described = result["data"]["__schema"]
        assert described["queryType"]["name"] == "Query"
        assert "PayInvoiceInput" in {t["name"] for t in described["types"]}


MISTAKES: list[tuple[str, dict[str, Any], str]] = [
    ("{ invoise(number: 1) { id } }", {}, "invoise"),
    ("{ invoice(numbr: 1) { id } }", {}, "numbr"),
    ("{ invoices(status: PAYD) { edges { cursor } } }", {}, "PAYD"),
    (
        "query Q($s: InvoiceStatuz) { invoices(status: $s) { edges { cursor } } }",
        {},
        "InvoiceStatuz",
    ),
    (PAY, {"input": {"invoiceNumber": INVOICE, "currency": "NGN", "amout": "1"}}, "amout"),
]


async def messages_for_mistakes(client: httpx.AsyncClient, token: str) -> list[str]:
    messages: list[str] = []
    for document, variables, _ in MISTAKES:
        result = await gql(client, document, variables, token)
        assert result["data"] is None, result
        messages.append(" ".join(error["message"] for error in result["errors"]))
    return messages


async def test_production_does_not_suggest_names_unless_graphiql_is_on(db: Database) -> None:
    # given a development server, a production one, and a production one with GRAPHIQL=on
    world = await make_world(db)
    messages: dict[str, list[str]] = {}
    for name, settings in MODES.items():
        async with client_for(db, **settings) as client:
            # when a client misspells a field, an argument, an enum value, a type, an input
            messages[name] = await messages_for_mistakes(client, world.ada_token)
    # then development, and production opened for GraphiQL, suggest the right name
    for name in ("development", "production+graphiql"):
        assert all("Did you mean" in message for message in messages[name]), messages[name]
    # and locked production never does, yet still names what is wrong
    assert not any("Did you mean" in message for message in messages["production"])
    for message, (_, _, wrong) in zip(messages["production"], MISTAKES, strict=True):
        assert wrong in message, message


async def test_graphiql_is_served_in_development_only(db: Database) -> None:
    # given development, production, and production with GRAPHIQL=on
    pages: dict[str, httpx.Response] = {}
    for name, settings in MODES.items():
        async with client_for(db, **settings) as client:
            # when a browser opens /graphql
            pages[name] = await client.get("/graphql", headers={"Accept": "text/html"})
    # then GraphiQL is there in development and when turned on, and nowhere else
    for name in ("development", "production+graphiql"):
        assert pages[name].status_code == 200, name
        assert pages[name].headers["content-type"].startswith("text/html")
        assert "graphiql" in pages[name].text.lower()
    assert pages["production"].status_code == 404
    assert "graphiql" not in pages["production"].text.lower()


# --- the schemas ---


def test_every_environment_serves_the_exported_schema() -> None:
    # given the schema built for production without introspection
    production = build_schema(locked=True)
    # then its SDL is the exported one
    assert production.as_str() == schema.as_str()


def test_each_kind_of_schema_is_built_once() -> None:
    # given settings that differ only in what does not shape the schema
    one = Settings(environment="production", graphiql=False, database_url="sqlite://")
    two = Settings(environment="production", graphiql=False, log_level="DEBUG")
    # then they share one schema; development (GraphiQL on or off) is the exported one
    assert schema_for(one) is schema_for(two)
    assert schema_for(Settings(environment="development", graphiql=False)) is schema
    assert schema_for(Settings(environment="development", graphiql=True)) is schema
    assert schema_for(Settings(environment="production", graphiql=True)) is schema
    assert schema_for(one) is not schema
