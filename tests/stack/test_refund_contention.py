"""refundPayment under contention through the whole HTTP stack: real `invoicepay serve`
processes on loopback ports (two on one PostgreSQL database, one on SQLite), concurrent
requests over TCP.

Racing refunds of one payment never give back more than it paid; refunds racing payments
on one wallet and one invoice all go through with no deadlock (`pg_stat_database`), and
afterwards the ledger verifies and every balance equals its ledger entries. No client ever
sees a 5xx or a top-level error. Each test asserts its figures exactly, then reports them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.billing import admin
from app.db.engine import Database
from app.ledger.verify import verify_ledger
from tests.support import DEMO_CLONE, WalletBooks, invoice, token_for, wallet_books
from tests.support.answers import ask
from tests.support.deadlocks import settled_deadlocks
from tests.support.figures import report
from tests.support.live import LiveServer, server_env
from tests.support.refunds import invoice_state, pay

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

REFUND = """
mutation Refund($input: RefundPaymentInput!) {
  refundPayment(input: $input) {
    __typename
    ... on RefundPaymentSuccess { refund { amount { amount } walletCredit { amount } } }
    ... on RefundExceedsRefundable { refundable { amount } }
  }
}
"""
PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename }
}
"""
# A burst finishes in seconds; a hang (a lost lock, a deadlock waiting out its timeout)
# fails it.
BOUND_SECONDS = 60


@dataclass(frozen=True)
class Shop:
    """The demo tenant's admin, and Ada with her NGN wallet."""

    ada: str
    ada_token: str
    admin_token: str


async def shop(db: Database, ngn: str) -> Shop:
    await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
    ada = await admin.create_customer(db, DEMO_CLONE, "Ada Obi", "ada@example.com")
    await admin.top_up_wallet(db, DEMO_CLONE, ada.id, "NGN", Decimal(ngn))
    return Shop(
        ada.id, await token_for(db, DEMO_CLONE, ada.id), await token_for(db, DEMO_CLONE, None)
    )


@asynccontextmanager
async def clients(db: Database, logs: Path) -> AsyncIterator[list[httpx.AsyncClient]]:
    """A client of each live server on the test database: two on PostgreSQL (each with its
    own pool, so rows are locked across processes), one on SQLite."""
    count = 1 if db.is_sqlite else 2
    servers = [LiveServer(server_env(db.url), logs / f"app{n}.log") for n in range(count)]
    async with AsyncExitStack() as stack:
        for server in servers:
            stack.push_async_callback(server.stop)
        await asyncio.gather(*(server.start() for server in servers))
        yield [await stack.enter_async_context(server.client()) for server in servers]


async def refund_rows(db: Database) -> tuple[int, int, int]:
    """(count, Σ amount, Σ wallet credit) of every refund."""
    sql = "SELECT count(*), coalesce(sum(amount), 0), coalesce(sum(wallet_credit), 0) FROM refunds"
    async with db.engine.connect() as connection:
        row = (await connection.execute(text(sql))).one()
    return int(row[0]), int(row[1]), int(row[2])


def backend(db: Database) -> str:
    return "sqlite" if db.is_sqlite else "postgresql"


async def test_twenty_racing_refunds_of_one_on_a_payment_of_ten_refund_exactly_ten(
    db: Database, tmp_path: Path
) -> None:
    # given Ada paid invoice 800 (10.00 NGN) in full from her wallet of 50.00
    world = await shop(db, "50.00")
    await invoice(db, 800, world.ada, "10.00")
    payment = await pay(db, world.ada, 800, currency="NGN")
    deadlocks_before = None if db.is_sqlite else await settled_deadlocks(db)
    request = {"paymentId": payment, "amount": "1.00"}
    async with clients(db, tmp_path) as servers:
        # when 20 refunds of 1.00 arrive at once, spread over the servers
        started = time.monotonic()
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(
                *(
                    ask(client, REFUND, world.admin_token, request)
                    for client in itertools.islice(itertools.cycle(servers), 20)
                )
            )
        elapsed = time.monotonic() - started
    deadlocks_after = None if db.is_sqlite else await settled_deadlocks(db)
    # then exactly 10 went through, each refunding and crediting 1.00, and the other 10
    # found nothing left to refund
    outcomes = Counter(answer["__typename"] for answer in answers)
    assert outcomes == {"RefundPaymentSuccess": 10, "RefundExceedsRefundable": 10}, outcomes
    assert {
        (answer["refund"]["amount"]["amount"], answer["refund"]["walletCredit"]["amount"])
        for answer in answers
        if answer["__typename"] == "RefundPaymentSuccess"
    } == {("1.00", "1.00")}
    assert {
        answer["refundable"]["amount"]
        for answer in answers
        if answer["__typename"] == "RefundExceedsRefundable"
    } == {"0.00"}
    # and the wallet got exactly 10.00 back, one entry a refund, its balance its ledger's
    assert await wallet_books(db, world.ada, "NGN") == WalletBooks(
        balance=5000, ledger_sum=5000, lowest_balance_after=4000, entries=12
    )
    assert await refund_rows(db) == (10, 1000, 1000)
    assert await invoice_state(db, 800) == (0, 0, "UNPAID")
    assert await verify_ledger(db) == []
    assert deadlocks_after == deadlocks_before
    report(
        f"refund contention[{backend(db)}] 20 racing refundPayment of 1.00, payment of 10.00",
        f"{outcomes['RefundPaymentSuccess']} RefundPaymentSuccess,"
        f" {outcomes['RefundExceedsRefundable']} RefundExceedsRefundable (refundable 0.00),"
        f" 0 other; wallet credited 10.00; {elapsed:.2f} s",
    )


async def test_refunds_racing_payments_on_one_wallet_and_invoice_never_deadlock(
    db: Database, tmp_path: Path
) -> None:
    # given Ada's invoice 100 of 100.00 NGN paid 40.00 by four payments of 10.00 from her
    # wallet of 100.00: 60.00 due, 60.00 in the wallet
    world = await shop(db, "100.00")
    await invoice(db, 100, world.ada, "100.00")
    payments = [await pay(db, world.ada, 100, currency="NGN", amount=Decimal(10)) for _ in range(4)]
    deadlocks_before = None if db.is_sqlite else await settled_deadlocks(db)
    refund_requests = [{"paymentId": p, "amount": "1.00"} for p in payments] * 10
    pay_request = {"invoiceNumber": 100, "currency": "NGN", "amount": "1.00"}
    async with clients(db, tmp_path) as servers:
        # when 40 refunds of 1.00 (all that was paid) race 60 payments of 1.00 of the same
        # invoice from the same wallet, interleaved over the servers
        refunds = [
            ask(client, REFUND, world.admin_token, request)
            for client, request in zip(itertools.cycle(servers), refund_requests, strict=False)
        ]
        payments_now = [
            ask(client, PAY, world.ada_token, pay_request)
            for client in itertools.islice(itertools.cycle(servers[::-1]), 60)
        ]
        calls = [c for pair in itertools.zip_longest(refunds, payments_now) for c in pair if c]
        started = time.monotonic()
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(*calls)
        elapsed = time.monotonic() - started
    deadlocks_after = None if db.is_sqlite else await settled_deadlocks(db)
    # then every one went through (each refund finds its 1.00, each payment 1.00 due and in
    # the wallet, whatever the order): no 5xx, no top-level error, no refusal
    outcomes = Counter(answer["__typename"] for answer in answers)
    assert outcomes == {"RefundPaymentSuccess": 40, "PayInvoiceSuccess": 60}, outcomes
    # and PostgreSQL counted no deadlock
    assert deadlocks_after == deadlocks_before
    # and the books: 40.00 refunded, 60.00 paid, the wallet 40.00, equal to its ledger
    assert await invoice_state(db, 100) == (6000, 0, "PARTIALLY_PAID")
    assert await refund_rows(db) == (40, 4000, 4000)
    books = await wallet_books(db, world.ada, "NGN")
    assert (books.balance, books.ledger_sum, books.entries) == (4000, 4000, 1 + 4 + 40 + 60)
    assert books.lowest_balance_after >= 0
    assert await verify_ledger(db) == []
    report(
        f"refund contention[{backend(db)}] 40 refunds racing 60 payments, one wallet and invoice",
        f"{outcomes['RefundPaymentSuccess']} RefundPaymentSuccess,"
        f" {outcomes['PayInvoiceSuccess']} PayInvoiceSuccess, 0 other, 5xx 0;"
        f" {len(answers) / elapsed:.0f} requests/s ({elapsed:.2f} s)"
        + ("" if db.is_sqlite else f"; deadlocks {deadlocks_before} -> {deadlocks_after}"),
    )
