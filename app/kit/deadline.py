"""A time limit for one GraphQL document (`GRAPHQL_TIMEOUT`), and where it may cancel.

When the time is up, the task running the document is cancelled where it waits, unless
a write has begun to commit: cancelling a commit could leave a payment committed whose
client hears only an error. `committing()` is called just before every commit (the unit
of work's, PostgreSQL's one-statement payment); from then on the document runs to its
end and is answered, committed payment included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_current: ContextVar[Deadline | None] = ContextVar("deadline", default=None)


class Deadline:
    def __init__(self, task: asyncio.Task[object], seconds: float) -> None:
        self.task = task
        self.committed = False
        self.expired = False
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        if not self.committed:
            self.expired = True
            self.task.cancel()


def committing() -> None:
    """A write is about to commit: the running document may no longer be cancelled."""
    deadline = _current.get()
    if deadline is not None:
        deadline.committed = True


class TimedOut(Exception):
    """The document ran out of time before anything committed; nothing was written."""


async def within(seconds: float, work: Awaitable[T]) -> T:
    """`await work`, cancelled after `seconds` unless it has begun committing (TimedOut)."""
    task = asyncio.current_task()
    assert task is not None
    deadline = Deadline(task, seconds)
    token = _current.set(deadline)
    try:
        return await work
    except asyncio.CancelledError:
        if deadline.expired and task.uncancel() == 0:
            raise TimedOut from None
        raise
    finally:
        deadline.timer.cancel()
        _current.reset(token)
