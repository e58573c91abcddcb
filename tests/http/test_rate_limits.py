"""Rate limits on payment attempts (Check.RATE_LIMITED): per customer and per client IP, on REST
(429 + Retry-After + RateLimit-*) and GraphQL (RATE_LIMITED, every payInvoice counted),
in memory or shared through Redis by several app instances."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from app.config import ConfigError
from app.db.engine import Database
from app.http.ratelimit import RateLimiter
from tests.support import (
    client_for,
    error_codes,
    gql,
    invoice,
    make_world,
    rest_pay,
    snapshot,
)
from tests.support.redis_store import REDIS_URL

PAY = """mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { __typename } }"""


def part(amount: int) -> dict[str, Any]:
    """A REST body paying `amount` NGN of invoice 100123."""
    return {
        "invoice": 100123,
        "currency": "NGN",
        "partPaymentFromWalletBalance": {"chargeTotalCurrent": amount},
    }


async def _world_with_invoice(db: Database) -> Any:
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000.00")
    await invoice(db, 100200, world.bola, "900.00")
    return world


async def test_rest_answers_429_with_retry_after_once_the_limit_is_used(db: Database) -> None:
    # given a limit of 2 payment attempts a minute
    world = await _world_with_invoice(db)
    async with client_for(db, rate_limit="2/minute") as client:
        # when Ada pays twice
        first = await rest_pay(client, part(100), world.ada_token)
        second = await rest_pay(client, part(100), world.ada_token)
        before = await snapshot(db)
        # and a third time
        third = await rest_pay(client, part(100), world.ada_token)
    # then the first two pay and say how much room is left
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["RateLimit-Limit"] == "2"
    assert (first.headers["RateLimit-Remaining"], second.headers["RateLimit-Remaining"]) == (
        "1",
        "0",
    )
    # and the third is refused with the seed's message, told when to come back
    assert (third.status_code, third.json()) == (429, {"message": "Too many requests"})
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert third.headers["RateLimit-Remaining"] == "0"
    assert 0 <= int(third.headers["RateLimit-Reset"]) <= 60
    # and it wrote nothing
    assert await snapshot(db) == before


async def test_the_limit_is_per_customer_across_addresses(db: Database) -> None:
    world = await _world_with_invoice(db)
    limiter = RateLimiter("2/minute", "memory://")
    # when Ada pays twice from one address, then from another
    async with client_for(db, peer="198.51.100.1", limiter=limiter) as client:
        assert (await rest_pay(client, part(100), world.ada_token)).status_code == 200
        assert (await rest_pay(client, part(100), world.ada_token)).status_code == 200
    async with client_for(db, peer="198.51.100.2", limiter=limiter) as client:
        ada = await rest_pay(client, part(100), world.ada_token)
        # and Bola pays from that other address
        bola = await rest_pay(client, {"invoice": 100200, "currency": "NGN"}, world.bola_token)
    # then Ada is limited wherever she comes from, and Bola is not
    assert ada.status_code == 429
    assert bola.status_code == 200, bola.text


async def test_the_limit_is_per_address_across_customers(db: Database) -> None:
    world = await _world_with_invoice(db)
    limiter = RateLimiter("2/minute", "memory://")
    async with client_for(db, peer="198.51.100.1", limiter=limiter) as client:
        # when Ada and Bola each pay once from one address
        assert (await rest_pay(client, part(100), world.ada_token)).status_code == 200
        assert (await rest_pay(client, part(100), world.ada_token)).status_code == 200
        # then a third payment from that address is refused, whoever makes it
        bola = await rest_pay(client, {"invoice": 100200, "currency": "NGN"}, world.bola_token)
    assert bola.status_code == 429
    # while the same customer from another address still pays
    async with client_for(db, peer="198.51.100.2", limiter=limiter) as client:
        other = await rest_pay(client, {"invoice": 100200, "currency": "NGN"}, world.bola_token)
    assert other.status_code == 200


async def test_the_token_and_the_guard_come_before_the_limit(db: Database) -> None:
    # given Ada has used her whole limit
    world = await _world_with_invoice(db)
    async with client_for(db, rate_limit="1/minute") as client:
        assert (await rest_pay(client, part(100), world.ada_token)).status_code == 200
        # when a request without a valid token comes in
        unauthenticated = await rest_pay(client, part(100), "garbage")
        # or with another tenant's cloneId
        forbidden = await rest_pay(client, {**part(100), "cloneId": "0" * 24}, world.ada_token)
        # or with a malformed body (parameters are checked after the limit)
        malformed = await rest_pay(client, {"invoice": "x"}, world.ada_token)
    # then each is answered by the earlier check, in the checks' order
    assert unauthenticated.status_code == 401
    assert forbidden.status_code == 403
    assert malformed.status_code == 429


async def test_graphql_counts_every_pay_invoice_so_aliases_do_not_help(db: Database) -> None:
    # given a limit of 2 payment attempts a minute
    world = await _world_with_invoice(db)
    three = """mutation {
      a: payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: "1.00"}) { __typename }
      b: payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: "1.00"}) { __typename }
      ...more
    }
    fragment more on Mutation {
      c: payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: "1.00"}) { __typename }
    }"""
    before = await snapshot(db)
    async with client_for(db, rate_limit="2/minute") as client:
        # when one document carries three payments (two aliases and a fragment)
        result = await gql(client, three, token=world.ada_token)
        after_three = await snapshot(db)
        # and then two single payments, then a third
        singles = [
            await gql(
                client,
                PAY,
                {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "1.00"}},
                world.ada_token,
            )
            for _ in range(3)
        ]
    # then the three-payment document is refused whole, before anything ran
    assert result["data"] is None
    assert error_codes(result) == ["RATE_LIMITED"]
    assert result["errors"][0]["message"] == "Too many requests"
    assert result["errors"][0]["extensions"]["retryAfter"] >= 1
    assert after_three == before
    # and the singles pay twice, then are limited
    assert [s["data"]["payInvoice"]["__typename"] for s in singles[:2]] == ["PayInvoiceSuccess"] * 2
    assert error_codes(singles[2]) == ["RATE_LIMITED"]


async def test_graphql_reads_are_not_payment_attempts(db: Database) -> None:
    world = await _world_with_invoice(db)
    async with client_for(db, rate_limit="1/minute") as client:
        reads = [await gql(client, "{ viewer { id } }", token=world.ada_token) for _ in range(5)]
        payment = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "1.00"}},
            world.ada_token,
        )
    assert all("errors" not in read for read in reads)
    assert payment["data"]["payInvoice"]["__typename"] == "PayInvoiceSuccess"


async def test_two_instances_sharing_redis_share_the_limit(db: Database, redis_prefix: str) -> None:
    # given two app instances, each with its own limiter on the same Redis
    world = await _world_with_invoice(db)
    one = RateLimiter("3/minute", REDIS_URL, key_prefix=redis_prefix)
    two = RateLimiter("3/minute", REDIS_URL, key_prefix=redis_prefix)
    statuses = []
    try:
        async with (
            client_for(db, limiter=one) as first,
            client_for(db, limiter=two) as second,
        ):
            # when Ada's payments alternate between them
            for client in (first, second, first, second, first, second):
                response = await rest_pay(client, part(100), world.ada_token)
                statuses.append(response.status_code)
    finally:
        await one.aclose()
        await two.aclose()
    # then together they allow exactly the limit, not the limit per instance
    assert statuses == [200, 200, 200, 429, 429, 429]


async def test_two_instances_in_memory_do_not_share(db: Database) -> None:
    # the reason RATE_LIMIT_STORAGE_URL exists: memory counters are per instance
    world = await _world_with_invoice(db)
    statuses = []
    async with (
        client_for(db, rate_limit="1/minute") as first,
        client_for(db, rate_limit="1/minute") as second,
    ):
        for client in (first, second):
            statuses.append((await rest_pay(client, part(100), world.ada_token)).status_code)
    assert statuses == [200, 200]


async def test_the_storage_url_names_redis(redis_prefix: str) -> None:
    # given a limiter built from the setting as a user writes it
    limiter = RateLimiter("1/minute", REDIS_URL, key_prefix=redis_prefix)
    # when one identity takes the only attempt
    try:
        first = await limiter.consume(["someone"])
        second = await limiter.consume(["someone"])
    finally:
        await limiter.aclose()
    # then the counter lives in Redis, under our prefix
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
    finally:
        await client.aclose()
    assert (first.allowed, second.allowed) == (True, False)
    assert keys


async def test_several_limits_and_the_tightest_is_reported() -> None:
    limiter = RateLimiter("2/second;3/minute", "memory://")
    decisions = [await limiter.consume(["x"]) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[1].remaining == 0
    assert decisions[2].headers()["Retry-After"] == "1"


async def test_a_cost_is_taken_whole_or_not_at_all() -> None:
    limiter = RateLimiter("3/minute", "memory://")
    assert (await limiter.consume(["x"], cost=2)).allowed
    refused = await limiter.consume(["x"], cost=2)
    assert not refused.allowed
    assert refused.remaining == 1
    assert (await limiter.consume(["x"], cost=1)).allowed


@pytest.mark.parametrize(
    ("limit", "storage"),
    [("lots", "memory://"), ("5/fortnight", "memory://"), ("5/minute", "nosuch://")],
)
def test_bad_settings_refuse_to_start(limit: str, storage: str) -> None:
    with pytest.raises(ConfigError):
        RateLimiter(limit, storage)
