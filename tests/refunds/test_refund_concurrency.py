"""refundPayment under concurrent requests, through the ASGI app, on both backends: racing
refunds never give back more than was paid, and refunds racing payments on one wallet and
invoice neither deadlock nor lose a cent."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from app.db.engine import Database
from tests.support import client_for, gql, invoice
from tests.support.refunds import balance, given_books, invoice_state, pay

REFUND = """
mutation Refund($input: RefundPaymentInput!) {
  refundPayment(input: $input) { __typename }
}
"""
PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename }
}
"""
# Every test here finishes in a few seconds; a hang (a lost lock, a deadlock) fails it.
BOUND_SECONDS = 60


async def answer(client: Any, document: str, token: str, request: dict[str, Any]) -> str:
    body = await gql(client, document, {"input": request}, token)
    assert "errors" not in body, body
    typename: str = next(iter(body["data"].values()))["__typename"]
    return typename


async def test_twenty_racing_refunds_of_one_on_a_payment_of_ten_refund_exactly_ten(
    db: Database,
) -> None:
    # given Ada paid 10.00 of invoice 800
    books = await given_books(db)
    await invoice(db, 800, books.world.ada, "10")
    payment = await pay(db, books.world.ada, 800, currency="NGN")
    start = await balance(db, books.world.ada, "NGN")
    request = {"paymentId": payment, "amount": "1.00"}
    async with client_for(db) as client:
        # when 20 refunds of 1.00 arrive at once
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(
                *(answer(client, REFUND, books.world.admin_token, request) for _ in range(20))
            )
    # then exactly 10 went through and the rest found nothing left
    assert Counter(answers) == {"RefundPaymentSuccess": 10, "RefundExceedsRefundable": 10}
    assert await balance(db, books.world.ada, "NGN") == start + 1000
    assert await invoice_state(db, 800) == (0, 0, "UNPAID")


async def test_refunds_racing_payments_on_one_wallet_and_invoice_never_deadlock(
    db: Database,
) -> None:
    # given Ada's 4000.00 payment of invoice 100 (10000.00), 6000.00 still due
    books = await given_books(db)
    start = await balance(db, books.world.ada, "NGN")
    refund = {"paymentId": books.ngn_payment, "amount": "1000"}
    payment = {"invoiceNumber": 100, "currency": "NGN", "amount": "1000"}
    async with client_for(db) as client:
        # when four refunds of 1000.00 race six payments of 1000.00 from the same wallet
        calls = [answer(client, REFUND, books.world.admin_token, refund) for _ in range(4)]
        calls += [answer(client, PAY, books.world.ada_token, payment) for _ in range(6)]
        async with asyncio.timeout(BOUND_SECONDS):
            answers = await asyncio.gather(*calls)
    # then all of them went through, in some order, and every cent is accounted for
    assert Counter(answers) == {"RefundPaymentSuccess": 4, "PayInvoiceSuccess": 6}
    assert await invoice_state(db, 100) == (600000, 0, "PARTIALLY_PAID")
    assert await balance(db, books.world.ada, "NGN") == start + 400000 - 600000
