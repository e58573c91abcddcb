"""One WRITE at a time per wallet from this process: payments on one wallet take turns
here, in arrival order, instead of queueing on the wallet's row lock in PostgreSQL.

The WRITE statement (app/payments/pg_store.py) locks the wallet's row, and on a busy
wallet every payment in flight waited on that lock inside PostgreSQL, where each waiter
costs CPU (it wakes on every commit and checks the row again) and where the queue is not
first come, first served (a payment arriving between a commit and a waiter's wake-up
goes first): `make bench`'s one-hot-wallet rows spent about twice the PostgreSQL CPU per
payment of the many-wallet rows, with a long latency tail. Taking turns here keeps at
most one of this process's payments per wallet at the database; the row lock still
orders them against other processes and instances, and correctness rests on it alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WalletTurns:
    def __init__(self) -> None:
        self.locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, wallet_id: str) -> AsyncIterator[None]:
        """Wait for `wallet_id`'s turn (first come, first served) and hold it."""
        lock, users = self.locks.get(wallet_id) or (asyncio.Lock(), 0)
        self.locks[wallet_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self.locks[wallet_id]
            if users == 1:
                del self.locks[wallet_id]
            else:
                self.locks[wallet_id] = (lock, users - 1)


turns = WalletTurns()
