"""Rate limits on payment attempts, per customer and per client IP (the `limits` library
parses them).

`RATE_LIMIT` is a `limits` string such as `60/minute` (or several: `5/second;60/minute`).
Counters live in memory by default; with `RATE_LIMIT_STORAGE_URL=redis://…` every app
instance shares them. A moving window: a burst at a window's edge cannot double the rate.
An attempt is checked against every limit of every identity and taken from all of them or
from none (app.http.rate_windows): on Redis in one script, one round trip.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many

from app.config import ConfigError
from app.http.rate_windows import MemoryWindows, Outcome, RedisWindows, Window

TOO_MANY_REQUESTS = "Too many requests"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the tightest window frees room again
    retry_after: int = 1  # when refused: seconds until every window has room for it

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


REDIS_SCHEMES = {"redis", "rediss", "unix"}


class RateLimiter:
    def __init__(self, limit: str, storage_url: str, *, key_prefix: str = "invoicepay") -> None:
        try:
            self.items: list[RateLimitItem] = parse_many(limit)
        except ValueError:
            raise ConfigError(f"RATE_LIMIT: {limit!r} is not a rate such as 60/minute") from None
        self.key_prefix = key_prefix
        scheme = storage_url.split("://", 1)[0].lower()
        self.windows: MemoryWindows | RedisWindows
        if scheme == "memory":
            self.windows = MemoryWindows()
        elif scheme in REDIS_SCHEMES:
            try:
                self.windows = RedisWindows(storage_url)
            except ValueError as error:
                raise ConfigError(f"RATE_LIMIT_STORAGE_URL: {error}") from None
        else:
            raise ConfigError(
                f"RATE_LIMIT_STORAGE_URL: {scheme!r} is not memory:// or redis:// (rediss://,"
                " unix://)"
            )

    async def aclose(self) -> None:
        await self.windows.aclose()

    async def consume(self, identities: Sequence[str], cost: int = 1) -> RateDecision:
        """Take `cost` from every limit of every identity, or from none of them."""
        windows = [
            Window(f"{self.key_prefix}:{item.key_for(identity)}", item.amount, item.get_expiry())
            for item in self.items
            for identity in identities
        ]
        return _decision(windows, await self.windows.take(windows, cost), time.time())


def _decision(windows: list[Window], outcome: Outcome, now: float) -> RateDecision:
    """What the client is told: the tightest window (least room, then the longest wait),
    and when refused, when every window will have room for the attempt."""
    tightest: RateDecision | None = None
    retry_after = 1
    for window, state in zip(windows, outcome.states, strict=True):
        remaining = max(0, window.limit - state.count)
        reset_at = (state.oldest if state.oldest is not None else now) + window.expiry
        reset_after = max(0, math.ceil(reset_at - now))
        if tightest is None or (remaining, -reset_after) < (
            tightest.remaining,
            -tightest.reset_after,
        ):
            tightest = RateDecision(outcome.allowed, window.limit, remaining, reset_after)
        if state.room_at is not None:
            retry_after = max(retry_after, math.ceil(state.room_at - now))
    assert tightest is not None
    return RateDecision(
        tightest.allowed, tightest.limit, tightest.remaining, tightest.reset_after, retry_after
    )
