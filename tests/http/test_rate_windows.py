"""The memory windows find an identity's live attempts by binary search in its list,
newest first, and keep that list sorted whatever the clock does."""

from __future__ import annotations

import random
import time

import pytest

from app.http.rate_windows import MemoryWindows, Window, _younger


@pytest.mark.parametrize("seed", range(20))
def test_the_live_attempts_are_those_a_walk_would_find(seed: int) -> None:
    draw = random.Random(seed)
    stamps = sorted((draw.choice([draw.uniform(0, 100), 50.0]) for _ in range(200)), reverse=True)
    for horizon in (-1.0, 0.0, 50.0, draw.uniform(0, 100), 100.0, 101.0):
        assert _younger(stamps, horizon) == [s for s in stamps if s > horizon]


async def test_a_clock_stepping_back_keeps_the_window_sorted_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    windows = MemoryWindows()
    window = [Window("principal:t:c", limit=3, expiry=60)]
    clock = iter([1000.0, 1001.0, 990.0, 991.0])
    monkeypatch.setattr(time, "time", lambda: next(clock))
    allowed = [(await windows.take(window, 1)).allowed for _ in range(4)]
    # the third attempt, made when the clock read 990, still counts: the fourth is refused
    assert allowed == [True, True, True, False]
    assert windows.stamps["principal:t:c"] == sorted(windows.stamps["principal:t:c"], reverse=True)


async def test_a_window_of_a_thousand_attempts_still_counts_exactly() -> None:
    windows = MemoryWindows()
    window = [Window("ip:1", limit=1000, expiry=60)]
    outcomes = [(await windows.take(window, 1)).allowed for _ in range(1001)]
    assert outcomes.count(True) == 1000
    assert outcomes[-1] is False
