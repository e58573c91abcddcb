"""payInvoice under concurrent requests, through the ASGI app, on both backends: one
idempotency key executes once, and one wallet is never overdrawn."""

from __future__ import annotations

import asyncio
from collections import Counter

from app.db.engine import Database
from tests.support import (
    client_for,
    invoice,
    ledger_imbalances,
    make_world,
    pay_with,
    snapshot,
    wallet_books,
)

# Every test here finishes in a few seconds; a hang (a lost lock, a deadlock) fails it.
BOUND_SECONDS = 60


async def test_twenty_concurrent_requests_with_one_key_pay_once(db: Database) -> None:
    # given Ada's invoice of 15000 NGN and her NGN wallet of 50000
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    request = {"idempotencyKey": "race-key"}
    async with client_for(db) as client:
        # when 20 identical requests with one key arrive at once
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(
                *(pay_with(client, world.ada_token, 100123, **request) for _ in range(20))
            )
    # then exactly one executed: one payment row, and everyone got that payment
    assert {answer["__typename"] for answer in answers} == {"PayInvoiceSuccess"}, answers
    assert len({answer["payment"]["id"] for answer in answers}) == 1
    assert Counter(answer["replayed"] for answer in answers) == {True: 19, False: 1}
    assert (await snapshot(db))["payments"] == [(1,)]
    # and the wallet was debited once
    books = await wallet_books(db, world.ada, "NGN")
    assert books.balance == books.ledger_sum == 3_500_000


async def test_thirty_concurrent_payments_never_overdraw_one_wallet(db: Database) -> None:
    # given Bola's NGN wallet of 1000.00 and 30 invoices of 70.00 each (it covers 14)
    world = await make_world(db)
    numbers = range(500, 530)
    for number in numbers:
        await invoice(db, number, world.bola, "70")
    async with client_for(db) as client:
        # when he pays all 30 at once
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(
                *(pay_with(client, world.bola_token, n) for n in numbers)
            )
    # then as many succeed as the balance covers and the rest are InsufficientFunds
    outcomes = Counter(answer["__typename"] for answer in answers)
    assert outcomes == {"PayInvoiceSuccess": 100000 // 7000, "InsufficientFunds": 30 - 14}
    assert (await snapshot(db))["payments"] == [(14,)]
    # and the wallet never went below zero and equals the sum of its ledger entries
    books = await wallet_books(db, world.bola, "NGN")
    assert books.lowest_balance_after >= 0
    assert books.balance == books.ledger_sum == 100000 - 14 * 7000
    assert books.entries == 1 + 14
    assert await ledger_imbalances(db) == []


async def test_ten_concurrent_full_payments_of_one_invoice_settle_it_once(db: Database) -> None:
    # given Ada's invoice of 15000 NGN and her NGN wallet of 50000 (enough for three)
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with client_for(db) as client:
        # when ten requests to pay it in full arrive at once, without keys
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(
                *(pay_with(client, world.ada_token, 100123) for _ in range(10))
            )
    # then one pays it and the others find it already paid
    outcomes = Counter(answer["__typename"] for answer in answers)
    assert outcomes == {"PayInvoiceSuccess": 1, "InvoiceAlreadyPaid": 9}
    books = await wallet_books(db, world.ada, "NGN")
    assert books.balance == books.ledger_sum == 3_500_000
