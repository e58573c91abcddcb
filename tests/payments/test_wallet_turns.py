"""Payments on one wallet take turns in this process, first come first served; other
wallets do not wait; a turn is given back however the payment ends; nothing is kept for
a wallet nobody is paying from."""

from __future__ import annotations

import asyncio

import pytest

from app.payments.wallet_turns import WalletTurns


async def test_payments_on_one_wallet_take_turns_in_arrival_order() -> None:
    turns, order, inside = WalletTurns(), [], [0]

    async def pay(n: int) -> None:
        async with turns.turn("wal_hot"):
            inside[0] += 1
            assert inside[0] == 1  # never two at once
            await asyncio.sleep(0.001 * (5 - n))  # early arrivals take longer
            order.append(n)
            inside[0] -= 1

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(pay(n)))
        await asyncio.sleep(0)  # arrive in this order
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert turns.locks == {}


async def test_another_wallet_does_not_wait() -> None:
    turns = WalletTurns()
    async with turns.turn("wal_a"):
        await asyncio.wait_for(_enter(turns, "wal_b"), 0.5)


async def _enter(turns: WalletTurns, wallet_id: str) -> None:
    async with turns.turn(wallet_id):
        pass


async def test_a_turn_is_given_back_when_the_payment_fails() -> None:
    turns = WalletTurns()
    with pytest.raises(RuntimeError):
        async with turns.turn("wal_x"):
            raise RuntimeError("the statement failed")
    await asyncio.wait_for(_enter(turns, "wal_x"), 0.5)
    assert turns.locks == {}


async def test_a_waiter_cancelled_gives_its_place_back() -> None:
    turns = WalletTurns()
    async with turns.turn("wal_x"):
        waiter = asyncio.create_task(_enter(turns, "wal_x"))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert turns.locks == {}
