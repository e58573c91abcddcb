"""Rate limits on payment attempts, per customer and per client IP (the `limits` library).

`RATE_LIMIT` is a `limits` string such as `60/minute` (or several: `5/second;60/minute`).
Counters live in memory by default; with `RATE_LIMIT_STORAGE_URL=redis://…` every app
instance shares them. A moving window: a burst at a window's edge cannot double the rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from app.config import ConfigError

TOO_MANY_REQUESTS = "Too many requests"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the tightest window frees room again

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_after))
        return headers


REDIS_SCHEMES = {"redis", "rediss", "unix"}


class RateLimiter:
    def __init__(self, limit: str, storage_url: str, *, key_prefix: str = "invoicepay") -> None:
        try:
            self.items: list[RateLimitItem] = parse_many(limit)
        except ValueError:
            raise ConfigError(f"RATE_LIMIT: {limit!r} is not a rate such as 60/minute") from None
        self.key_prefix = key_prefix
        self.pool: aioredis.ConnectionPool | None = None
        scheme = storage_url.split("://", 1)[0].lower()
        try:
            if scheme in REDIS_SCHEMES:
                # Our own pool, so that closing the app closes its connections.
                self.pool = aioredis.ConnectionPool.from_url(storage_url)
                storage = storage_from_string(
                    "async+redis://",
                    implementation="redispy",
                    key_prefix=key_prefix,
                    connection_pool=self.pool,  # type: ignore[arg-type]
                )
            else:
                storage = storage_from_string(f"async+{storage_url}")
        except (ConfigurationError, ValueError) as error:
            raise ConfigError(f"RATE_LIMIT_STORAGE_URL: {error}") from None
        self.strategy = MovingWindowRateLimiter(storage)

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def consume(self, identities: Sequence[str], cost: int = 1) -> RateDecision:
        """Take `cost` from every limit of every identity, or from none of them."""
        keys = [f"{self.key_prefix}:{identity}" for identity in identities]
        pairs = [(item, key) for item in self.items for key in keys]
        allowed = True
        for item, key in pairs:
            if not await self.strategy.test(item, key, cost=cost):
                allowed = False
                break
        if allowed:
            for item, key in pairs:
                allowed = await self.strategy.hit(item, key, cost=cost) and allowed
        return await self._decision(pairs, allowed)

    async def _decision(
        self, pairs: list[tuple[RateLimitItem, str]], allowed: bool
    ) -> RateDecision:
        now = time.time()
        tightest: RateDecision | None = None
        for item, key in pairs:
            stats = await self.strategy.get_window_stats(item, key)
            remaining = max(0, stats.remaining)
            reset_after = max(0, math.ceil(stats.reset_time - now))
            if tightest is None or (remaining, -reset_after) < (
                tightest.remaining,
                -tightest.reset_after,
            ):
                tightest = RateDecision(allowed, item.amount, remaining, reset_after)
        assert tightest is not None
        return tightest
