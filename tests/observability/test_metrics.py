"""`/metrics`: requests by operation and status, payments by outcome on both edges, the
pool read at scrape time, protection in production, and sums across `--workers`."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.api.graphql.schema import schema
from app.billing import admin
from app.config import ConfigError, Settings
from app.db.engine import Database
from tests.support import (
    DEMO_CLONE,
    client_for,
    gql,
    invoice,
    make_world,
    rest_pay,
)
from tests.support.live import live_server

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename ... on PayInvoiceSuccess { replayed } }
}
"""
TOKEN = "metrics-" + "m" * 24


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the series `name` with `labels` (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for series in family.samples:
            if series.name == name and series.labels == labels:
                return float(series.value)
    return 0.0


def label_values(text: str, name: str, label: str) -> set[str]:
    return {
        series.labels[label]
        for family in text_string_to_metric_families(text)
        for series in family.samples
        if series.name == name and label in series.labels
    }


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def payments(text: str, api: str, outcome: str, replayed: str = "false") -> float:
    return sample(text, "invoicepay_payments_total", api=api, outcome=outcome, replayed=replayed)


def requests(text: str, api: str, operation: str, status: str) -> float:
    return sample(
        text, "invoicepay_http_requests_total", api=api, operation=operation, status=status
    )


async def test_payments_are_counted_by_outcome_on_both_edges(db: Database) -> None:
    # given Ada (NGN 50000) and an invoice of 100000 NGN
    world = await make_world(db)
    await invoice(db, 700, world.ada, "100000")
    async with client_for(db) as client:
        before = await scrape(client)
        # when she pays over GraphQL, then asks REST for more than her wallet holds
        paid = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 700, "currency": "NGN", "amount": "10"}},
            world.ada_token,
        )
        short = {
            "invoice": 700,
            "currency": "NGN",
            "partPaymentFromWalletBalance": {"chargeTotalCurrent": 60000},
        }
        insufficient = await rest_pay(client, short, world.ada_token)
        # and pays over REST with a key, twice, and once more without a token on each edge
        keyed = {
            "invoice": 700,
            "currency": "NGN",
            "partPaymentFromWalletBalance": {"chargeTotalCurrent": 5},
        }
        first = await rest_pay(client, keyed, world.ada_token, Idempotency_Key="k-1")
        again = await rest_pay(client, keyed, world.ada_token, Idempotency_Key="k-1")
        anonymous = await rest_pay(client, keyed)
        anonymous_gql = await gql(client, PAY, {"input": {"invoiceNumber": 700, "currency": "NGN"}})
        # and sends GraphQL an amount that is not a decimal, and one over the balance due
        malformed = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 700, "currency": "NGN", "amount": "x"}},
            world.ada_token,
        )
        wrong = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 700, "currency": "NGN", "amount": "999999"}},
            world.ada_token,
        )
        after = await scrape(client)
    assert paid["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess"
    assert (
        insufficient.status_code == 400 and insufficient.json()["message"] == "Insufficient funds"
    )
    assert (first.status_code, again.status_code, anonymous.status_code) == (200, 200, 401)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert anonymous_gql["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert malformed["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert wrong["data"]["payInvoice"]["__typename"] == "WrongAmount"

    # then each outcome rose by exactly one, under the union member's name on both edges
    def rose(api: str, outcome: str, replayed: str = "false") -> float:
        return payments(after, api, outcome, replayed) - payments(before, api, outcome, replayed)

    assert rose("graphql", "PayInvoiceSuccess") == 1
    assert rose("rest", "InsufficientFunds") == 1
    assert rose("rest", "PayInvoiceSuccess") == 1
    assert rose("rest", "PayInvoiceSuccess", replayed="true") == 1
    assert rose("rest", "Unauthenticated") == 1
    assert rose("graphql", "Unauthenticated") == 1
    assert rose("graphql", "InvalidInput") == 1
    assert rose("graphql", "WrongAmount") == 1
    assert rose("graphql", "InsufficientFunds") == rose("graphql", "PayInvoiceSuccess", "true") == 0
    total_after = sum(
        series.value
        for family in text_string_to_metric_families(after)
        for series in family.samples
        if series.name == "invoicepay_payments_total"
    )
    total_before = sum(
        series.value
        for family in text_string_to_metric_families(before)
        for series in family.samples
        if series.name == "invoicepay_payments_total"
    )
    assert total_after - total_before == 8


async def test_a_refused_payment_counts_by_the_gate_that_refused_it(db: Database) -> None:
    # given a limit of one payment attempt a minute
    world = await make_world(db)
    await invoice(db, 701, world.ada, "100")
    body = {
        "invoice": 701,
        "currency": "NGN",
        "partPaymentFromWalletBalance": {"chargeTotalCurrent": 1},
    }
    async with client_for(db, rate_limit="1/minute") as client:
        before = await scrape(client)
        # when Ada pays twice over REST (one payment allowed per minute and address), and
        # Bola's GraphQL names another tenant
        allowed = await rest_pay(client, body, world.ada_token)
        limited = await rest_pay(client, body, world.ada_token)
        other = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 701, "currency": "NGN", "cloneId": "f" * 24}},
            world.bola_token,
        )
    async with client_for(db) as client:
        # and a body that is not JSON
        unparsable = await client.post(
            "/api/v1/billing/invoice/pay",
            content=b"{",
            headers={
                "Authorization": f"Bearer {world.admin_token}",
                "Content-Type": "application/json",
            },
        )
        after = await scrape(client)
    assert (allowed.status_code, limited.status_code) == (200, 429)
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert unparsable.status_code == 400
    # then the refusals are counted by the gate's name
    for api, outcome in [
        ("rest", "PayInvoiceSuccess"),
        ("rest", "RateLimited"),
        ("graphql", "Forbidden"),
        ("rest", "InvalidInput"),
    ]:
        assert payments(after, api, outcome) - payments(before, api, outcome) == 1, outcome


ROOT_FIELDS = [
    name
    for root in (schema._schema.query_type, schema._schema.mutation_type)
    if root is not None
    for name in root.fields
]


async def test_requests_are_counted_by_operation_never_by_what_a_client_wrote(
    db: Database,
) -> None:
    world = await make_world(db)
    async with client_for(db) as client:
        before = await scrape(client)
        # when a client reads under an operation name of its own, pays without a token,
        # asks for a field that does not exist, probes, and misses every route
        named = await gql(
            client, "query FreeTextChosenByClient { viewer { id } }", None, world.ada_token
        )
        both = await gql(client, "{ viewer { id } wallets { currency } }", None, world.ada_token)
        await rest_pay(client, {"invoice": 1, "currency": "NGN"})
        unknown = await client.post("/graphql", json={"query": "{ secretFieldOfClient }"})
        await client.get("/healthz")
        missing = await client.get("/no/such/route/chosen-by-client")
        after = await scrape(client)
    assert "errors" not in named and "errors" not in both
    assert unknown.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert missing.status_code == 404

    # then each is counted under a name from a fixed set, with its status, and timed
    def rose(api: str, operation: str, status: str) -> float:
        return requests(after, api, operation, status) - requests(before, api, operation, status)

    assert rose("graphql", "viewer", "200") == 1
    assert rose("graphql", "multiple", "200") == 1
    assert rose("rest", "payInvoice", "401") == 1
    assert rose("graphql", "invalid", "200") == 1
    assert rose("ops", "healthz", "200") == 1
    assert rose("other", "other", "404") == 1
    histogram = "invoicepay_http_request_duration_seconds_count"
    timed = sample(after, histogram, api="graphql", operation="viewer") - sample(
        before, histogram, api="graphql", operation="viewer"
    )
    assert timed == 1
    operations = label_values(after, "invoicepay_http_requests_total", "operation")
    ours = set(ROOT_FIELDS)  # the schema's own names (`rotateWebhookSecret` is one of them)
    assert not {o for o in operations - ours if "client" in o.lower() or "secret" in o.lower()}


async def test_pool_gauges_are_read_when_scraped(db: Database) -> None:
    async with client_for(db) as client:
        idle = await scrape(client)
        # when a connection of the pool is held while scraping
        async with db.engine.connect():
            busy = await scrape(client)
    # then the scrape saw it checked out, and the pool's size
    assert sample(idle, "invoicepay_db_pool_checked_out") == 0
    assert sample(busy, "invoicepay_db_pool_checked_out") == 1
    assert sample(busy, "invoicepay_db_pool_size") == 5  # the `db` fixture's pool
    assert sample(busy, "invoicepay_db_pool_overflow") == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_hot_paths_pool_is_reported_too(db: Database) -> None:
    async with client_for(db) as client:
        before = await scrape(client)
        # when the payment hot path's pool has a connection held while scraping
        async with (await db.pg_pool()).acquire():
            busy = await scrape(client)
    # then the scrape saw it in use, and open
    assert sample(before, "invoicepay_db_hot_pool_open") == 0  # opened on first use
    assert sample(busy, "invoicepay_db_hot_pool_in_use") == 1
    assert sample(busy, "invoicepay_db_hot_pool_open") >= 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_metrics_are_closed_in_production_unless_a_token_is_set(db: Database) -> None:
    # given production without METRICS_TOKEN, and production with one
    async with client_for(db, environment="production", graphiql=False) as closed:
        not_served = await closed.get("/metrics")
    async with client_for(
        db, environment="production", graphiql=False, metrics_token=TOKEN
    ) as guarded:
        anonymous = await guarded.get("/metrics")
        wrong = await guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        right = await guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        probes = [await guarded.get("/healthz"), await guarded.get("/readyz")]
    # then /metrics is not there, or only for the token; the probes never need one
    assert not_served.status_code == 404
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "invoicepay_http_requests_total" in right.text
    assert [probe.status_code for probe in probes] == [200, 200]


def test_a_short_metrics_token_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        Settings.from_env({"METRICS_TOKEN": "short"})
    token = Settings.from_env({"METRICS_TOKEN": TOKEN}).metrics_token
    assert token is not None and token.get_secret_value() == TOKEN
    assert Settings(environment="production").serves_metrics is False
    assert Settings(environment="production", metrics_token=TOKEN).serves_metrics is True
    assert Settings(environment="development").serves_metrics is True


@pytest.mark.slow
async def test_with_several_workers_every_scrape_sums_them_all(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    # given two workers, and Ada's invoice
    world = await make_world(db)
    await invoice(db, 702, world.ada, "100")
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "NGN", Decimal("1"))
    body = {
        "invoice": 702,
        "currency": "NGN",
        "partPaymentFromWalletBalance": {"chargeTotalCurrent": 1},
    }
    pool_size = 5 if db.is_sqlite else 10
    async with live_server(database_url, log_path=tmp_path / "server.log", workers=2) as server:
        # (both workers up: the pool gauges are then the sum of both workers' pools)
        async with asyncio.timeout(30):
            while True:
                async with server.client() as client:
                    text = await scrape(client)
                if sample(text, "invoicepay_db_pool_size") == 2 * pool_size:
                    break
                await asyncio.sleep(0.2)
        # when she pays six times, each on a new connection (either worker may answer)
        for _ in range(6):
            async with server.client() as client:
                assert (await rest_pay(client, body, world.ada_token)).status_code == 200
        # then every scrape, whichever worker answers it, counts all six
        scrapes = []
        for _ in range(6):
            async with server.client() as client:
                scrapes.append(await scrape(client))
    for text in scrapes:
        assert payments(text, "rest", "PayInvoiceSuccess") == 6
        assert requests(text, "rest", "payInvoice", "200") == 6
        assert sample(text, "invoicepay_db_pool_size") == 2 * pool_size
