"""refundPayment through the ASGI app, on both backends: each union member alone (and
nothing written by a refusal), the order of the checks when two fail, replays, and what a
refund leaves on the payment, invoice, wallet and ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from app.db.engine import Database
from tests.support import DEMO_CLONE, client_for, gql, snapshot, token_for
from tests.support.refunds import Books, balance, given_books, invoice_state, pay

REFUND = """
mutation Refund($input: RefundPaymentInput!) {
  refundPayment(input: $input) {
    __typename
    ... on RefundPaymentSuccess {
      replayed
      refund { id amount { amount currency } walletCredit { amount currency } reason
               payment { id } }
      payment { id amountRefunded { amount } refundable { amount } refunds { id } }
      invoice { status amountPaid { amount } amountRefunded { amount }
                discountApplied { amount } balanceDue { amount } }
      wallet { balance { amount currency } }
    }
    ... on Error { code message replayed }
    ... on PaymentNotFound { paymentId }
    ... on RefundExceedsRefundable { refundable { amount currency } }
    ... on WrongAmount { reason balanceDue { amount } }
    ... on IdempotencyKeyReused { key }
  }
}
"""
MISSING = "pay_" + "0" * 24


async def ask(
    client: httpx.AsyncClient, token: str, payment_id: str, **fields: Any
) -> dict[str, Any]:
    body = await gql(client, REFUND, {"input": {"paymentId": payment_id, **fields}}, token)
    assert "errors" not in body, body
    answer: dict[str, Any] = body["data"]["refundPayment"]
    return answer


async def refused_alone(
    db: Database, books: Books, payment_id: str, **fields: Any
) -> dict[str, Any]:
    """The answer to a refund that must fail, having checked it wrote nothing."""
    before = await snapshot(db)
    async with client_for(db) as client:
        answer = await ask(client, books.world.admin_token, payment_id, **fields)
    assert await snapshot(db) == before
    assert await refund_count(db) == 0
    return answer


async def refund_count(db: Database) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM refunds"))).scalar_one())


async def test_a_partial_then_the_rest_refund_a_payment_back_to_its_wallet(db: Database) -> None:
    # given Ada paid 4000.00 of invoice 100 (10000.00 NGN) from her NGN wallet
    books = await given_books(db)
    ngn = await balance(db, books.world.ada, "NGN")
    async with client_for(db) as client:
        # when the admin refunds 1500.00, then the rest
        first = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="1500", reason="dup"
        )
        rest = await ask(client, books.world.admin_token, books.ngn_payment)
    # then the first credits 1500.00 and leaves the invoice partly paid
    assert first["__typename"] == "RefundPaymentSuccess", first
    assert first["refund"]["amount"] == {"amount": "1500.00", "currency": "NGN"}
    assert first["refund"]["walletCredit"] == {"amount": "1500.00", "currency": "NGN"}
    assert first["refund"]["reason"] == "dup"
    assert first["refund"]["id"].startswith("ref_")
    assert first["payment"]["amountRefunded"] == {"amount": "1500.00"}
    assert first["payment"]["refundable"] == {"amount": "2500.00"}
    assert first["invoice"]["status"] == "PARTIALLY_PAID"
    assert first["invoice"]["amountPaid"] == {"amount": "2500.00"}
    assert first["invoice"]["amountRefunded"] == {"amount": "1500.00"}
    # and the rest refunds 2500.00: nothing paid, the invoice UNPAID, the wallet whole
    assert rest["refund"]["amount"]["amount"] == "2500.00"
    assert rest["payment"]["refundable"] == {"amount": "0.00"}
    assert len(rest["payment"]["refunds"]) == 2
    assert rest["invoice"]["status"] == "UNPAID"
    assert rest["invoice"]["balanceDue"] == {"amount": "10000.00"}
    assert rest["invoice"]["amountRefunded"] == {"amount": "4000.00"}
    assert await balance(db, books.world.ada, "NGN") == ngn + 400000
    assert Decimal(rest["wallet"]["balance"]["amount"]) == Decimal(ngn + 400000) / 100


async def test_a_refund_is_a_balanced_ledger_transaction_shown_in_the_wallet_history(
    db: Database,
) -> None:
    # given Ada's cross-currency payment (15000.01 NGN from USD at 1500: 10.01 USD)
    books = await given_books(db)
    async with client_for(db) as client:
        # when the admin refunds all of it
        answer = await ask(client, books.world.admin_token, books.usd_payment)
        history = await gql(
            client,
            """query { wallet(currency: "USD") { transactions(first: 1) { edges { node {
                 kind amount { amount } payment { id } refund { id amount { amount } } } } } } }""",
            token=books.world.ada_token,
        )
    # then the wallet gets 10.01 USD back, the reverse of the payment's legs
    assert answer["refund"]["walletCredit"] == {"amount": "10.01", "currency": "USD"}
    async with db.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT account, currency, amount FROM ledger_entries"
                    " WHERE kind = 'REFUND' ORDER BY id"
                )
            )
        ).all()
    wallet_account = [r for r in rows if r[0].startswith("wallet:")]
    assert [(r[1], r[2]) for r in wallet_account] == [("USD", 1001)]
    assert sorted((r[0], r[1], r[2]) for r in rows if not r[0].startswith("wallet:")) == [
        ("fx", "NGN", 1500001),
        ("fx", "USD", -1001),
        ("settled", "NGN", -1500001),
    ]
    # and the USD wallet's newest transaction is that refund
    node = history["data"]["wallet"]["transactions"]["edges"][0]["node"]
    assert node["kind"] == "REFUND"
    assert node["amount"] == {"amount": "10.01"}
    assert node["payment"] == {"id": books.usd_payment}
    assert node["refund"] == {"id": answer["refund"]["id"], "amount": {"amount": "15000.01"}}


# --- each union member alone, nothing written ---------------------------------------------


async def test_a_missing_payment_is_payment_not_found(db: Database) -> None:
    books = await given_books(db)
    answer = await refused_alone(db, books, MISSING)
    assert answer == {
        "__typename": "PaymentNotFound",
        "code": "PAYMENT_NOT_FOUND",
        "message": "Payment not found",
        "replayed": False,
        "paymentId": MISSING,
    }


async def test_another_tenants_payment_is_answered_exactly_as_a_missing_one(db: Database) -> None:
    books = await given_books(db)
    theirs = await refused_alone(db, books, books.other_tenant_payment)
    missing = await refused_alone(db, books, MISSING)
    assert {**theirs, "paymentId": "?"} == {**missing, "paymentId": "?"}


async def test_more_than_the_refundable_is_refund_exceeds_refundable(db: Database) -> None:
    books = await given_books(db)
    answer = await refused_alone(db, books, books.ngn_payment, amount="4000.01")
    assert answer["__typename"] == "RefundExceedsRefundable"
    assert answer["code"] == "REFUND_EXCEEDS_REFUNDABLE"
    assert answer["refundable"] == {"amount": "4000.00", "currency": "NGN"}


async def test_anything_when_nothing_is_left_is_refund_exceeds_refundable(db: Database) -> None:
    # given a payment refunded whole
    books = await given_books(db)
    async with client_for(db) as client:
        await ask(client, books.world.admin_token, books.ngn_payment)
        before = await snapshot(db)
        # when the admin asks again, with and without an amount
        without = await ask(client, books.world.admin_token, books.ngn_payment)
        with_amount = await ask(client, books.world.admin_token, books.ngn_payment, amount="0.01")
    # then both are RefundExceedsRefundable with nothing left, and nothing changed
    for answer in (without, with_amount):
        assert answer["__typename"] == "RefundExceedsRefundable", answer
        assert answer["refundable"] == {"amount": "0.00", "currency": "NGN"}
    assert await snapshot(db) == before


async def test_a_zero_or_negative_amount_is_wrong_amount_not_positive(db: Database) -> None:
    books = await given_books(db)
    for amount in ("0", "-1.00"):
        answer = await refused_alone(db, books, books.ngn_payment, amount=amount)
        assert (answer["__typename"], answer["reason"]) == ("WrongAmount", "NOT_POSITIVE")
        assert answer["balanceDue"] == {"amount": "6000.00"}  # the invoice's


async def test_more_decimals_than_the_currency_has_is_wrong_amount_too_precise(
    db: Database,
) -> None:
    books = await given_books(db)
    answer = await refused_alone(db, books, books.ngn_payment, amount="1.001")
    assert (answer["__typename"], answer["reason"]) == ("WrongAmount", "TOO_PRECISE")


async def test_a_stale_expected_refundable_is_wrong_amount_stale_refundable(db: Database) -> None:
    books = await given_books(db)
    answer = await refused_alone(
        db, books, books.ngn_payment, amount="1", expectedRefundable="3999.99"
    )
    assert (answer["__typename"], answer["reason"]) == ("WrongAmount", "STALE_REFUNDABLE")
    # and the current one is accepted
    async with client_for(db) as client:
        ok = await ask(
            client, books.world.admin_token, books.ngn_payment, expectedRefundable="4000.00"
        )
    assert ok["__typename"] == "RefundPaymentSuccess"


async def test_part_of_a_discounted_payment_is_wrong_amount(db: Database) -> None:
    books = await given_books(db)
    answer = await refused_alone(db, books, books.discounted_payment, amount="100")
    assert answer["__typename"] == "WrongAmount"
    assert answer["reason"] == "PARTIAL_REFUND_OF_DISCOUNTED_PAYMENT"


async def test_a_key_reused_with_other_parameters_is_idempotency_key_reused(db: Database) -> None:
    # given a refund of 1.00 under a key
    books = await given_books(db)
    async with client_for(db) as client:
        first = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="1", idempotencyKey="k1"
        )
        assert first["__typename"] == "RefundPaymentSuccess"
        before = await snapshot(db)
        # when the key comes back with another amount
        answer = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="2", idempotencyKey="k1"
        )
    # then it is refused and nothing more is refunded
    assert answer == {
        "__typename": "IdempotencyKeyReused",
        "code": "IDEMPOTENCY_KEY_REUSED",
        "message": "Idempotency key reused with different parameters",
        "replayed": False,
        "key": "k1",
    }
    assert await snapshot(db) == before
    assert await refund_count(db) == 1


async def test_the_same_key_and_parameters_replay_the_first_refund(db: Database) -> None:
    books = await given_books(db)
    async with client_for(db) as client:
        first = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="1", idempotencyKey="k"
        )
        before = await snapshot(db)
        again = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="1", idempotencyKey="k"
        )
        # and another admin of the tenant (a session of its own) with the same key gets the
        # same refund
        second_admin = await token_for(db, DEMO_CLONE, None)
        before = await snapshot(db)  # (the new session is a row)
        other_admin = await ask(
            client, second_admin, books.ngn_payment, amount="1", idempotencyKey="k"
        )
        assert await snapshot(db) == before
        # while the key is the other tenant's own: its admin's request is answered afresh
        other_tenant = await ask(
            client, books.world.other_admin_token, books.ngn_payment, amount="1", idempotencyKey="k"
        )
    assert (first["replayed"], again["replayed"], other_admin["replayed"]) == (False, True, True)
    assert first["refund"]["id"] == again["refund"]["id"] == other_admin["refund"]["id"]
    assert (other_tenant["__typename"], other_tenant["replayed"]) == ("PaymentNotFound", False)
    assert await refund_count(db) == 1


async def test_a_refused_refund_under_a_key_is_replayed_as_refused(db: Database) -> None:
    books = await given_books(db)
    async with client_for(db) as client:
        first = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="9000", idempotencyKey="k"
        )
        again = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="9000", idempotencyKey="k"
        )
    assert first["__typename"] == again["__typename"] == "RefundExceedsRefundable"
    assert (first["replayed"], again["replayed"]) == (False, True)


# --- the order of the checks when two fail -------------------------------------------------


async def test_not_found_comes_before_the_amount_checks(db: Database) -> None:
    books = await given_books(db)
    for amount in ("0", "1.001", "999999"):
        answer = await refused_alone(db, books, MISSING, amount=amount, expectedRefundable="5")
        assert answer["__typename"] == "PaymentNotFound", (amount, answer)


async def test_the_amount_checks_come_before_a_reused_key(db: Database) -> None:
    # given a key used by a refund of 1.00
    books = await given_books(db)
    async with client_for(db) as client:
        await ask(
            client, books.world.admin_token, books.ngn_payment, amount="1", idempotencyKey="k"
        )
        before = await snapshot(db)
        # when the key comes back with an amount that fails a check of its own
        too_much = await ask(
            client, books.world.admin_token, books.ngn_payment, amount="9000", idempotencyKey="k"
        )
        stale = await ask(
            client,
            books.world.admin_token,
            books.ngn_payment,
            amount="2",
            expectedRefundable="1",
            idempotencyKey="k",
        )
        missing = await ask(client, books.world.admin_token, MISSING, idempotencyKey="k")
    # then each is answered with its amount (or not-found) error, not the key's
    assert too_much["__typename"] == "RefundExceedsRefundable"
    assert (stale["__typename"], stale["reason"]) == ("WrongAmount", "STALE_REFUNDABLE")
    assert missing["__typename"] == "PaymentNotFound"
    assert await snapshot(db) == before


async def test_exceeding_comes_before_the_other_amount_checks(db: Database) -> None:
    books = await given_books(db)
    # more than refundable and too precise, and stale: RefundExceedsRefundable
    answer = await refused_alone(
        db, books, books.ngn_payment, amount="4000.001", expectedRefundable="1"
    )
    assert answer["__typename"] == "RefundExceedsRefundable"
    # a wrong amount and a stale guard: the amount's reason
    answer = await refused_alone(
        db, books, books.ngn_payment, amount="0.001", expectedRefundable="1"
    )
    assert answer["reason"] == "TOO_PRECISE"


# --- who may refund ------------------------------------------------------------------------


async def test_a_customer_token_is_forbidden_and_writes_nothing(db: Database) -> None:
    books = await given_books(db)
    before = await snapshot(db)
    async with client_for(db) as client:
        body = await gql(
            client, REFUND, {"input": {"paymentId": books.ngn_payment}}, books.world.ada_token
        )
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert await snapshot(db) == before
    assert await refund_count(db) == 0


# --- what a refund leaves on the invoice ---------------------------------------------------


async def test_a_whole_refund_of_a_discounted_payment_takes_the_discount_back(
    db: Database,
) -> None:
    # given invoice 300 (1000.00 at 5 %) paid with its discount: 950.00 paid, 50.00 off
    books = await given_books(db)
    assert await invoice_state(db, 300) == (95000, 5000, "PAID")
    async with client_for(db) as client:
        answer = await ask(client, books.world.admin_token, books.discounted_payment)
    # then 950.00 comes back and the invoice owes its whole total again
    assert answer["refund"]["amount"]["amount"] == "950.00"
    assert answer["invoice"]["discountApplied"] == {"amount": "0.00"}
    assert answer["invoice"]["balanceDue"] == {"amount": "1000.00"}
    assert await invoice_state(db, 300) == (0, 0, "UNPAID")


async def test_a_fully_refunded_invoice_can_be_paid_again_or_voided(db: Database) -> None:
    # given invoice 100's only payment refunded whole
    books = await given_books(db)
    async with client_for(db) as client:
        await ask(client, books.world.admin_token, books.ngn_payment)
        await ask(client, books.world.admin_token, books.usd_payment)
        # when it is paid again, and invoice 200 voided
        await pay(db, books.world.ada, 100, currency="NGN", amount=Decimal("10000"))
        voided = await gql(
            client,
            "mutation { voidInvoice(number: 200) { __typename ... on Invoice { status } } }",
            token=books.world.admin_token,
        )
    # then both go through
    assert await invoice_state(db, 100) == (1000000, 0, "PAID")
    assert voided["data"]["voidInvoice"] == {"__typename": "Invoice", "status": "VOID"}
