"""No document can starve the others: a cost before anything runs (QUERY_TOO_COMPLEX), and
a time limit while it runs (QUERY_TIMEOUT) that never turns a committed payment into an
error."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from graphql import (
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
    parse,
)

from app.api.graphql.context import Context
from app.api.graphql.cost import LIST_MAXIMA, TOO_COMPLEX, document_cost
from app.api.graphql.schema import build_schema, schema
from app.billing import admin
from app.config import ConfigError, Settings
from app.db.engine import Database, pg_dsn
from tests.support import (
    DEMO_CLONE,
    World,
    client_for,
    error_codes,
    gql,
    invoice,
    make_world,
)
from tests.support.live import live_server
from tests.support.snapshots import counting_statements, snapshot

README = Path(__file__).resolve().parents[3] / "README.md"
# Attack query of the issue: 20 aliases x 100 invoices x wallets x 100 transactions.
ATTACK = (
    "query Attack {"
    + " ".join(
        f"a{i}: invoices(first: 100) {{ edges {{ node {{ customer {{ wallets {{"
        " transactions(first: 100) { edges { node { payment { id amount { amount } } } } }"
        " } } } } }"
        for i in range(20)
    )
    + "}"
)
# Per alias: invoices 1; edges, node, customer, wallets 100 each; transactions 100 x 10
# wallets; edges, node, payment, amount 100 x 10 x 100 each.
ATTACK_COST = 20 * (1 + 4 * 100 + 100 * 10 + 4 * 100 * 10 * 100)
DASHBOARD_PAGES = {
    "invoices": """
        query Invoices($after: String) {
          invoices(first: 100, after: $after) {
            edges { cursor node { id number status total { amount currency }
              amountPaid { amount } balanceDue { amount } dueAt customer { id name } } }
            pageInfo { hasNextPage endCursor }
          }
        }""",
    "wallets": """
        query Wallets {
          viewer { id name wallets { id currency balance { amount currency }
            transactions(first: 20) { edges { node { kind amount { amount }
              balanceAfter { amount } createdAt payment { id } } } } } }
        }""",
    "invoice": """
        query Invoice { invoice(number: 1) { number status total { amount }
          payments { id amount { amount } createdAt } } }""",
}
INVOICE = "query One($n: Int!) { invoice(number: $n) { number status balanceDue { amount } } }"
PAY = """
mutation Pay($a: PayInvoiceInput!, $b: PayInvoiceInput!) {
  a: payInvoice(input: $a) { __typename ... on PayInvoiceSuccess { payment { id } } }
  b: payInvoice(input: $b) { __typename ... on PayInvoiceSuccess { payment { id } } }
}
"""


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    return document_cost(schema._schema, parse(query), None, variables)


def readme_examples() -> list[tuple[int, str]]:
    """Each ```graphql block of the README that says `# cost: N`, with N."""
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)
    return [
        (int(found.group(1)), block)
        for block in blocks
        if (found := re.search(r"# cost: ([\d,]+)", block.replace(",", "")))
    ]


# --- the formula ---


def test_the_attack_query_costs_what_the_formula_says() -> None:
    assert cost(ATTACK) == ATTACK_COST == 8_028_020


def test_every_cost_example_in_the_readme_is_right() -> None:
    examples = readme_examples()
    assert len(examples) >= 3
    for expected, block in examples:
        assert cost(block) == expected, block


def test_a_page_size_variable_is_costed_with_its_value_or_the_default() -> None:
    query = "query P($n: Int) { invoices(first: $n) { edges { node { total { amount } } } } }"
    assert cost(query, {"n": 100}) == 1 + 3 * 100
    assert cost(query, {"n": 5}) == 1 + 3 * 5
    assert cost(query, {}) == 1 + 3 * 20  # the connection's default page
    with_default = query.replace("$n: Int)", "$n: Int = 7)")
    assert cost(with_default, {}) == 1 + 3 * 7
    assert cost("{ invoices { edges { node { id } } } }") == 1 + 2 * 20


def test_every_list_without_pagination_has_a_documented_maximum() -> None:
    for type_ in schema._schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            listed = is_list_type(get_nullable_type(field.type))
            if not listed or not is_composite_type(get_named_type(field.type)):
                continue
            if "first" in field.args or type_.name.endswith("Connection"):
                continue
            maximum = LIST_MAXIMA.get((type_.name, name))
            assert maximum is not None, f"{type_.name}.{name} has no maximum"
            assert f"at most {maximum}" in (field.description or "") or (
                f"first {maximum}" in (field.description or "")
            ), f"{type_.name}.{name}: the maximum is not in its description"


def test_the_limits_come_from_the_environment() -> None:
    settings = Settings.from_env({"GRAPHQL_MAX_COST": "500", "GRAPHQL_TIMEOUT": "2.5"})
    assert (settings.graphql_max_cost, settings.graphql_timeout) == (500, 2.5)
    default = Settings.from_env({})
    assert (default.graphql_max_cost, default.graphql_timeout) == (10_000, 10.0)
    for bad in ({"GRAPHQL_MAX_COST": "0"}, {"GRAPHQL_MAX_COST": "ten"}, {"GRAPHQL_TIMEOUT": "-1"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


# --- refused before anything runs ---


async def test_the_attack_query_is_refused_fast_and_runs_nothing(db: Database) -> None:
    world = await make_world(db)
    async with client_for(db) as client:
        with counting_statements(db) as baseline:
            await gql(client, "query Nothing { __typename }", None, world.ada_token)
        started = time.perf_counter()
        with counting_statements(db) as statements:
            result = await gql(client, ATTACK, None, world.ada_token)
        elapsed = time.perf_counter() - started
    assert result["data"] is None
    [error] = result["errors"]
    assert error["extensions"] == {"code": TOO_COMPLEX, "cost": ATTACK_COST, "maxCost": 10_000}
    assert statements == baseline  # the token's check only: no resolver read anything
    assert elapsed < 1.0


async def test_a_dashboards_normal_pages_are_allowed(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 1, world.ada, "100")
    async with client_for(db) as client:
        for name, page in DASHBOARD_PAGES.items():
            result = await gql(client, page, None, world.ada_token)
            assert "errors" not in result, (name, result)
            assert cost(page) <= 10_000


async def test_the_maximum_cost_is_the_configured_one(db: Database) -> None:
    world = await make_world(db)
    page = DASHBOARD_PAGES["invoices"]
    async with client_for(db, graphql_max_cost=cost(page) - 1) as client:
        result = await gql(client, page, None, world.ada_token)
    assert error_codes(result) == [TOO_COMPLEX]
    assert result["errors"][0]["extensions"]["maxCost"] == cost(page) - 1


async def test_a_subscription_over_the_limit_is_refused(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 1, world.ada, "100")
    strict = build_schema(locked=False, max_cost=50)
    query = (
        "subscription Watch { invoiceUpdated(number: 1) {"
        " payments { invoice { payments { amount { amount } } } } } }"
    )
    with counting_statements(db) as statements:
        stream = await strict.subscribe(query, context_value=Context(db=db, principal=None))
        result = await anext(stream) if isinstance(stream, AsyncIterator) else stream
    assert result.data is None and result.errors is not None
    [error] = result.errors
    assert error.extensions == {"code": TOO_COMPLEX, "cost": cost(query), "maxCost": 50}
    assert statements == []


# --- the time limit ---


@asynccontextmanager
async def holding(db: Database, sql: str, *args: object) -> AsyncIterator[None]:
    """A lock taken by another connection, held until the block ends."""
    connection = await asyncpg.connect(pg_dsn(db.url))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute(sql, *args)
    try:
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def given_two_invoices(db: Database) -> World:
    world = await make_world(db)
    await invoice(db, 1, world.ada, "100")
    await invoice(db, 2, world.ada, "5", currency="USD")
    return world


async def test_a_read_that_runs_too_long_is_answered_query_timeout(postgres_db: Database) -> None:
    world = await given_two_invoices(postgres_db)
    async with (
        client_for(postgres_db, graphql_timeout=0.3) as client,
        holding(postgres_db, "LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE"),
    ):
        started = time.perf_counter()
        result = await gql(client, INVOICE, {"n": 1}, world.ada_token)
        elapsed = time.perf_counter() - started
    assert result["data"] is None
    assert error_codes(result) == ["QUERY_TIMEOUT"]
    assert 0.3 <= elapsed < 2.0
    async with client_for(postgres_db, graphql_timeout=0.3) as client:
        after = await gql(client, INVOICE, {"n": 1}, world.ada_token)
    assert after["data"]["invoice"]["number"] == 1  # the service is fine afterwards


async def test_a_payment_cancelled_before_it_commits_writes_nothing(postgres_db: Database) -> None:
    world = await given_two_invoices(postgres_db)
    before = await snapshot(postgres_db)
    inputs = {
        "a": {"invoiceNumber": 1, "currency": "NGN", "amount": "10"},
        "b": {"invoiceNumber": 1, "currency": "NGN", "amount": "10"},
    }
    async with (
        client_for(postgres_db, graphql_timeout=0.3) as client,
        holding(postgres_db, "LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE"),
    ):
        result = await gql(client, PAY, inputs, world.ada_token)
    assert error_codes(result) == ["QUERY_TIMEOUT"]
    assert await snapshot(postgres_db) == before


async def test_a_timed_out_mutation_whose_payment_committed_still_answers_it(
    postgres_db: Database,
) -> None:
    world = await given_two_invoices(postgres_db)
    inputs = {
        "a": {"invoiceNumber": 1, "currency": "NGN", "amount": "10"},
        "b": {"invoiceNumber": 2, "currency": "USD", "amount": "5"},
    }
    async with client_for(postgres_db, graphql_timeout=0.3) as client:
        # The USD wallet is locked past the time limit: `b` waits after `a` committed.
        async with holding(
            postgres_db,
            "SELECT 1 FROM wallets WHERE customer_id = $1 AND currency = 'USD' FOR UPDATE",
            world.ada,
        ):
            paying = asyncio.ensure_future(gql(client, PAY, inputs, world.ada_token))
            await asyncio.sleep(0.8)
            assert not paying.done()
        result = await paying
    assert "errors" not in result, result
    assert result["data"]["a"]["__typename"] == "PayInvoiceSuccess"
    assert result["data"]["b"]["__typename"] == "PayInvoiceSuccess"
    assert (await snapshot(postgres_db))["payments"] == [(2,)]


# --- the promise, through a live server ---


async def stall(db: Database, world: World, env: dict[str, str]) -> tuple[float, bool]:
    """The slowest of Bola's one-invoice reads while Ada's attack query runs (seconds; a
    read that gets no answer within 10 s counts 10), and whether the attack was refused."""
    async with (
        live_server(db.url, log_path=None, workers=1, **env) as server,
        server.client() as client,
    ):
        attack = asyncio.ensure_future(gql(client, ATTACK, None, world.ada_token))
        await asyncio.sleep(0.2)
        worst = 0.0
        for _ in range(5):
            started = time.perf_counter()
            try:
                answer = await asyncio.wait_for(
                    gql(client, INVOICE, {"n": 9}, world.bola_token), 10
                )
                assert answer["data"]["invoice"]["number"] == 9
                worst = max(worst, time.perf_counter() - started)
            except TimeoutError:
                worst = 10.0
            await asyncio.sleep(0.2)
        refused = attack.done() and error_codes(attack.result()) == [TOO_COMPLEX]
        attack.cancel()  # unrefused, it runs for minutes: the server is stopped under it
        with suppress(BaseException):
            await attack
    return worst, refused


@pytest.mark.slow
async def test_another_customers_small_read_answers_while_the_attack_is_sent(
    postgres_db: Database,  # a fair figure needs PostgreSQL's concurrency
) -> None:
    world = await make_world(postgres_db)
    for number in range(100, 200):
        await invoice(postgres_db, number, world.ada, "100")
    for _ in range(100):
        for currency in ("NGN", "USD"):
            await admin.top_up_wallet(postgres_db, DEMO_CLONE, world.ada, currency, Decimal("1"))
    await invoice(postgres_db, 9, world.bola, "100")
    before = await stall(
        postgres_db, world, {"GRAPHQL_MAX_COST": "1000000000", "GRAPHQL_TIMEOUT": "60"}
    )
    after = await stall(postgres_db, world, {})
    print(f"\nstall: {before[0]:.2f} s without the cost limit, {after[0]:.2f} s with it")
    assert not before[1] and after[1]
    assert after[0] < 2.0
