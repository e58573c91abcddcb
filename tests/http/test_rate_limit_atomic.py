"""An attempt is taken from every limit of every identity or from none, in memory and in
Redis, where the whole check is one round trip; a refused attempt tells when all of its
limits will have room for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from app.http.rate_windows import RedisWindows
from app.http.ratelimit import RateLimiter
from tests.support.redis_store import REDIS_URL

Build = Callable[[str], RateLimiter]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A storage URL and key prefix: memory, or a fresh prefix of the local Redis."""
    if request.param == "memory":
        return "memory://", "invoicepay"
    return REDIS_URL, request.getfixturevalue("redis_prefix")


@pytest.fixture
async def build(store: tuple[str, str]) -> AsyncIterator[Build]:
    """Builds limiters on `store`, closed afterwards."""
    built: list[RateLimiter] = []

    def limiter(limit: str) -> RateLimiter:
        built.append(RateLimiter(limit, store[0], key_prefix=store[1]))
        return built[-1]

    yield limiter
    for each in built:
        await each.aclose()


async def test_a_refused_attempt_charges_none_of_its_other_limits(build: Build) -> None:
    # given one address with a single attempt left of 3 a minute
    limiter = build("3/minute")
    for _ in range(2):
        assert (await limiter.consume(["ip:shared"])).allowed
    # when twenty customers behind it try at once
    decisions = await asyncio.gather(
        *(limiter.consume([f"customer:{n}", "ip:shared"]) for n in range(20))
    )
    # then exactly one gets through
    allowed = [n for n, decision in enumerate(decisions) if decision.allowed]
    assert len(allowed) == 1
    # and the nineteen refused were charged nothing: each still has its whole limit
    for n in range(20):
        after = await limiter.consume([f"customer:{n}"])
        assert after.remaining == (1 if n in allowed else 2), n


async def test_retry_after_is_when_every_limit_has_room_for_the_whole_cost(build: Build) -> None:
    # given 2 attempts, then 1.5 s later 3 more: 5 a minute used
    limiter = build("5/minute")
    assert (await limiter.consume(["x"], cost=2)).allowed
    await asyncio.sleep(1.5)
    assert (await limiter.consume(["x"], cost=3)).allowed
    # when one attempt, and a document of three, are refused
    one = await limiter.consume(["x"], cost=1)
    three = await limiter.consume(["x"], cost=3)
    # then one fits once the oldest two expire, three only once the newest three do
    assert (one.allowed, three.allowed) == (False, False)
    assert one.headers()["Retry-After"] == "59"
    assert three.headers()["Retry-After"] == "60"
    assert one.reset_after == three.reset_after == 59  # the window's next room, either way


async def test_a_cost_above_the_limit_is_refused_and_told_a_whole_window(build: Build) -> None:
    limiter = build("2/minute")
    refused = await limiter.consume(["x"], cost=3)
    assert not refused.allowed
    assert refused.retry_after == 60
    assert (await limiter.consume(["x"], cost=2)).allowed


def counting(windows: RedisWindows) -> list[int]:
    """Counts what the limiter's connections send: each send is one round trip."""
    sent = [0]

    class Counting(aioredis.Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent[0] += 1
            await super().send_packed_command(command, check_health)

    windows.pool.connection_class = Counting
    return sent


async def test_on_redis_an_attempt_is_one_round_trip(redis_prefix: str) -> None:
    # given two limits on a customer and on an address: four windows an attempt
    limiter = RateLimiter("3/minute;100/hour", REDIS_URL, key_prefix=redis_prefix)
    assert isinstance(limiter.windows, RedisWindows)
    sent = counting(limiter.windows)
    identities = ["customer:ada", "ip:198.51.100.1"]
    try:
        await limiter.consume(identities)  # connects (and says hello) once
        sent[0] = 0
        # when five more attempts come, two let in and three refused
        decisions = [await limiter.consume(identities) for _ in range(5)]
    finally:
        await limiter.aclose()
    # then each took exactly one round trip
    assert [d.allowed for d in decisions] == [True, True, False, False, False]
    assert sent[0] == 5


async def test_the_redis_windows_are_lists_expiring_with_their_limit(
    redis_prefix: str,
) -> None:
    limiter = RateLimiter("3/minute", REDIS_URL, key_prefix=redis_prefix)
    try:
        await limiter.consume(["someone"], cost=2)
    finally:
        await limiter.aclose()
    client = aioredis.from_url(REDIS_URL)
    try:
        [key] = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
        length = client.llen(key)
        ttl = client.ttl(key)
        assert isinstance(length, Awaitable) and isinstance(ttl, Awaitable)
        assert await length == 2
        assert 0 < await ttl <= 60
    finally:
        await client.aclose()
