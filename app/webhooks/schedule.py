"""When a failed delivery is tried again: the n-th delay of WEBHOOK_RETRY_SCHEDULE after
its n-th failed attempt, give or take 10% so that a receiver that was down is not hit by
every retry at once; after the last delay's attempt fails, never (the delivery FAILED)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

JITTER = 0.1


def next_attempt_at(schedule: Sequence[float], attempts: int, now: datetime) -> datetime | None:
    """After `attempts` failed attempts: when to try again, or None when it is over."""
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
    return now + timedelta(seconds=delay)
