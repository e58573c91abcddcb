"""Moving windows of payment attempts, checked and taken all together or not at all.

A window is one limit (`limit` attempts per `expiry` seconds) on one identity: a list of
the times of its attempts, newest first. An attempt of cost `c` is let in when every one
of its windows holds at most `limit - c` attempts younger than `expiry`; then `c` is
added to every window, else to none. `MemoryWindows` does that between two awaits of one
event loop; `RedisWindows` in one Lua script, so one round trip whatever the number of
windows, and no other instance can come in between.
"""

from __future__ import annotations

import bisect
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# A blackholed Redis must answer 503 quickly, whatever redis-py's defaults (None before 8).
REDIS_CONNECT_TIMEOUT_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 1.0
# How many attempts between two sweeps of the memory windows nobody touched since they expired.
SWEEP_EVERY = 1000


@dataclass(frozen=True)
class Window:
    key: str
    limit: int
    expiry: int  # seconds


@dataclass(frozen=True)
class WindowState:
    """A window after the attempt: its attempts within `expiry`, the oldest of them, and
    when it refused the attempt, the time it will have room for its cost."""

    count: int
    oldest: float | None
    room_at: float | None


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    states: list[WindowState]


def _fits(windows: Sequence[Window], lives: Sequence[Sequence[float]], cost: int) -> bool:
    return all(len(live) + cost <= w.limit for w, live in zip(windows, lives, strict=True))


def _outcome(
    windows: Sequence[Window],
    lives: Sequence[Sequence[float]],
    cost: int,
    now: float,
    allowed: bool,
) -> Outcome:
    """`lives`: each window's attempts younger than its expiry before this one, newest first."""
    states = [
        _state(window, live, cost, allowed, now)
        for window, live in zip(windows, lives, strict=True)
    ]
    return Outcome(allowed, states)


def _state(
    window: Window, live: Sequence[float], cost: int, allowed: bool, now: float
) -> WindowState:
    count = len(live) + (cost if allowed else 0)
    oldest = live[-1] if live else (now if count else None)
    room_at = None
    if not allowed and len(live) + cost > window.limit:
        # Room for `cost` once all but `limit - cost` of the live attempts have expired; a
        # cost above the limit never fits: told a whole window, it is not retried at once.
        fits = cost <= window.limit
        room_at = (live[window.limit - cost] if fits else now) + window.expiry
    return WindowState(count, oldest, room_at)


def _younger(stamps: list[float], horizon: float) -> list[float]:
    """The prefix of `stamps` (newest first) younger than `horizon`: a binary search, not a
    walk through every attempt (a window of 1000/second holds a thousand)."""
    return stamps[: bisect.bisect_left(stamps, -horizon, key=operator.neg)]


class MemoryWindows:
    """Windows in this process: no await between the check and the take, so atomic."""

    def __init__(self) -> None:
        self.stamps: dict[str, list[float]] = {}
        self.expires: dict[str, float] = {}
        self.attempts = 0

    async def take(self, windows: Sequence[Window], cost: int) -> Outcome:
        now = time.time()
        lives = [
            _younger(self.stamps.get(window.key, []), now - window.expiry) for window in windows
        ]
        outcome = _outcome(windows, lives, cost, now, _fits(windows, lives, cost))
        if outcome.allowed:
            for window, live in zip(windows, lives, strict=True):
                # Newest first stays sorted even if the clock steps back (then the attempt
                # counts as made at the newest one's time: it expires a little later).
                stamp = max(now, live[0]) if live else now
                self.stamps[window.key] = ([stamp] * cost + live)[: window.limit]
                self.expires[window.key] = max(
                    self.expires.get(window.key, 0.0), now + window.expiry
                )
        self._sweep(now)
        return outcome

    def _sweep(self, now: float) -> None:
        self.attempts += 1
        if self.attempts % SWEEP_EVERY:
            return
        for key in [key for key, expires in self.expires.items() if expires <= now]:
            del self.stamps[key], self.expires[key]

    async def aclose(self) -> None:
        return None


# KEYS: one list per window, newest first. ARGV: now, cost, then each window's limit and
# expiry. Returns {allowed, then per window: its live attempts before this one, newest
# first, up to the first `limit`}; timestamps go back as strings, Lua would truncate them.
TAKE_SCRIPT = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local lives = {}
local allowed = 1
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local expiry = tonumber(ARGV[2 + 2 * i])
  local live = {}
  for _, stamp in ipairs(redis.call('lrange', key, 0, limit - 1)) do
    if tonumber(stamp) > now - expiry then live[#live + 1] = stamp end
  end
  if #live + cost > limit then allowed = 0 end
  lives[i] = live
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    for _ = 1, cost do redis.call('lpush', key, ARGV[1]) end
    redis.call('ltrim', key, 0, tonumber(ARGV[1 + 2 * i]) - 1)
    redis.call('expire', key, tonumber(ARGV[2 + 2 * i]))
  end
end
return {allowed, unpack(lives)}
"""


class RedisWindows:
    """Windows in one Redis shared by every instance: one EVAL per attempt."""

    def __init__(self, url: str) -> None:
        # Our own pool, so that closing the app closes its connections.
        self.pool: aioredis.ConnectionPool = aioredis.ConnectionPool.from_url(
            url,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            # Never retried: a script whose answer was lost may have taken the attempt.
            retry=Retry(NoBackoff(), 0),
        )
        self.client = aioredis.Redis(connection_pool=self.pool)

    async def take(self, windows: Sequence[Window], cost: int) -> Outcome:
        now = time.time()
        limits: list[Any] = []
        for window in windows:
            limits += [window.limit, window.expiry]
        reply = await self.client.eval(
            TAKE_SCRIPT, len(windows), *(w.key for w in windows), repr(now), cost, *limits
        )
        lives = [[float(stamp) for stamp in live] for live in reply[1:]]
        return _outcome(windows, lives, cost, now, reply[0] == 1)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.pool.aclose()
