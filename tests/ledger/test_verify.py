"""`verify_ledger`: a sound ledger passes; each broken invariant is reported by its check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from app.billing import admin
from app.db.engine import Database
from app.db.models import utcnow
from app.ledger.verify import CHECKS, MAX_REPORTED, verify_ledger
from app.payments import PayInvoice, pay_invoice
from app.refunds import RefundPayment, refund_payment

TENANT = "64f0000000000000000000a1"
WALLET_CHECK = "balance >= 0"
# Ada's NGN wallet after given_books: 100.00 topped up, 20.00 + 10.00 + 19.00 paid.
NGN_BALANCE = 10000 - 2000 - 1000 - 1900
INVOICE_CHECK = (
    "amount_paid >= 0 AND discount_applied >= 0 AND amount_paid + discount_applied <= total"
)


@dataclass(frozen=True)
class Books:
    """A customer whose money moved through the services, as verify_ledger sees it."""

    customer_id: str
    ngn_wallet_id: str
    partly_paid: int
    paid: int
    unpaid: int
    voided: int
    payment_id: str


async def given_books(db: Database) -> Books:
    await admin.create_tenant(db, TENANT, "Verify Clone")
    customer = await admin.create_customer(db, TENANT, "Ada Obi", "ada@verify.test")
    wallet = await admin.top_up_wallet(db, TENANT, customer.id, "NGN", Decimal("100.00"))
    await admin.top_up_wallet(db, TENANT, customer.id, "USD", Decimal("10.00"))
    soon = utcnow() + timedelta(days=1)
    for number, total in ((1, "50.00"), (2, "10.00"), (3, "30.00"), (4, "20.00"), (5, "15.00")):
        await admin.create_invoice(
            db,
            TENANT,
            admin.NewInvoice(
                number=number,
                customer_id=customer.id,
                currency="NGN",
                total=Decimal(total),
                discount_percent=Decimal(5) if number == 4 else None,
                discount_until=soon if number == 4 else None,
            ),
        )
    await admin.create_invoice(
        db,
        TENANT,
        admin.NewInvoice(number=6, customer_id=customer.id, currency="NGN", total=Decimal("1.00")),
    )
    await admin.void_invoice(db, TENANT, 6)

    def pay(number: int, **fields: Any) -> PayInvoice:
        return PayInvoice(
            tenant_id=TENANT,
            customer_id=customer.id,
            invoice_number=number,
            currency="NGN",
            **fields,
        )

    partial = await pay_invoice(db, pay(1, amount=Decimal("20.00")))
    await pay_invoice(db, pay(2))
    await pay_invoice(db, pay(4, apply_early_payment_discount=True))
    await pay_invoice(
        db, pay(5, amount=Decimal("5.00"), wallet_currency="USD", exchange_rate=Decimal(1500))
    )
    return Books(
        customer_id=customer.id,
        ngn_wallet_id=wallet.id,
        partly_paid=1,
        paid=2,
        unpaid=3,
        voided=6,
        payment_id=partial.payment_id,
    )


async def execute(db: Database, sql: str, **params: Any) -> None:
    async with db.write_engine.begin() as connection:
        await connection.execute(text(sql), params)


async def insert_entry(
    db: Database,
    *,
    transaction: str,
    account: str,
    currency: str,
    amount: int,
    wallet_id: str | None = None,
    balance_after: int | None = None,
) -> None:
    """Append a raw ledger row (the table refuses UPDATE and DELETE, not INSERT)."""
    await execute(
        db,
        "INSERT INTO ledger_entries (tenant_id, transaction_id, kind, account, wallet_id,"
        " currency, amount, balance_after, created_at) VALUES (:tenant, :txn, 'TOP_UP',"
        " :account, :wallet, :currency, :amount, :after, CURRENT_TIMESTAMP)",
        tenant=TENANT,
        txn=transaction,
        account=account,
        wallet=wallet_id,
        currency=currency,
        amount=amount,
        after=balance_after,
    )


Write = Callable[..., Awaitable[None]]


@asynccontextmanager
async def check_constraint_off(
    db: Database, table: str, constraint: str, condition: str
) -> AsyncIterator[Write]:
    """A `write(sql, **params)` that commits rows the table's CHECK constraint refuses, so
    a test can prove verify_ledger catches them too. PostgreSQL gets the constraint back."""
    if db.is_sqlite:
        async with db.write_engine.connect() as connection:

            async def write(sql: str, **params: Any) -> None:
                await connection.execute(text(sql), params)
                await connection.commit()

            await connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            await connection.commit()
            try:
                yield write
            finally:
                await connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
                await connection.commit()
        return
    await execute(db, f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
    try:
        yield lambda sql, **params: execute(db, sql, **params)
    finally:
        await execute(db, f"TRUNCATE {table} CASCADE")
        await execute(db, f"ALTER TABLE {table} ADD CONSTRAINT {constraint} CHECK ({condition})")


async def reported(db: Database) -> set[str]:
    return {violation.check for violation in await verify_ledger(db)}


async def test_given_an_empty_database_when_verified_then_no_violation(db: Database) -> None:
    assert await verify_ledger(db) == []


async def test_given_money_moved_through_the_services_when_verified_then_no_violation(
    db: Database,
) -> None:
    await given_books(db)

    assert await verify_ledger(db) == []


async def test_when_verifying_then_progress_counts_every_check(db: Database) -> None:
    await given_books(db)
    calls: list[tuple[int, int]] = []

    await verify_ledger(db, progress=lambda done, total: calls.append((done, total)))

    assert calls == [(done, len(CHECKS)) for done in range(1, len(CHECKS) + 1)]


@pytest.mark.corrupts_ledger
async def test_given_an_unbalanced_entry_when_verified_then_its_transaction_is_reported(
    db: Database,
) -> None:
    await given_books(db)
    await insert_entry(db, transaction="txn_broken", account="funding", currency="NGN", amount=7)

    violations = await verify_ledger(db)

    assert [(v.check, v.subject) for v in violations] == [("transaction_balanced", "txn_broken")]
    assert "NGN entries sum to 7" in violations[0].detail


@pytest.mark.corrupts_ledger
async def test_given_many_unbalanced_transactions_when_verified_then_the_report_is_capped(
    db: Database,
) -> None:
    await given_books(db)
    for n in range(MAX_REPORTED + 1):
        await insert_entry(db, transaction=f"txn_{n}", account="fx", currency="NGN", amount=1)

    violations = await verify_ledger(db)

    assert len(violations) == MAX_REPORTED + 1
    assert violations[-1].subject == "..."


@pytest.mark.corrupts_ledger
async def test_given_an_entry_on_an_unknown_account_when_verified_then_it_is_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    await insert_entry(db, transaction="txn_x", account="mystery", currency="NGN", amount=0)
    await insert_entry(
        db,
        transaction="txn_y",
        account="wallet:wal_other",
        currency="NGN",
        amount=0,
        wallet_id=books.ngn_wallet_id,
        balance_after=NGN_BALANCE,
    )

    assert await reported(db) == {"entry_account"}


@pytest.mark.corrupts_ledger
async def test_given_a_wallet_balance_changed_outside_the_ledger_when_verified_then_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    await execute(
        db, "UPDATE wallets SET balance = balance + 1 WHERE id = :id", id=books.ngn_wallet_id
    )

    violations = await verify_ledger(db)

    assert [(v.check, v.subject) for v in violations] == [
        ("wallet_balance_matches_ledger", books.ngn_wallet_id)
    ]


@pytest.mark.corrupts_ledger
async def test_given_a_negative_wallet_balance_when_verified_then_it_is_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    async with check_constraint_off(
        db, "wallets", "wallet_balance_not_negative", WALLET_CHECK
    ) as write:
        await write("UPDATE wallets SET balance = -1 WHERE id = :id", id=books.ngn_wallet_id)

        checks = await reported(db)

    assert {"wallet_balance_not_negative", "wallet_balance_matches_ledger"} <= checks


@pytest.mark.corrupts_ledger
async def test_given_a_wrong_balance_after_when_verified_then_the_entry_is_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    # A balanced credit of 1.00 whose wallet row claims a wrong running balance.
    await insert_entry(
        db,
        transaction="txn_after",
        account=f"wallet:{books.ngn_wallet_id}",
        currency="NGN",
        amount=100,
        wallet_id=books.ngn_wallet_id,
        balance_after=999_999,
    )
    await insert_entry(db, transaction="txn_after", account="funding", currency="NGN", amount=-100)
    await execute(
        db, "UPDATE wallets SET balance = balance + 100 WHERE id = :id", id=books.ngn_wallet_id
    )

    violations = await verify_ledger(db)

    assert [v.check for v in violations] == ["wallet_running_balance"]
    assert "balance_after 999999" in violations[0].detail


@pytest.mark.corrupts_ledger
async def test_given_a_wallet_entry_in_another_currency_when_verified_then_it_is_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    await insert_entry(
        db,
        transaction="txn_usd",
        account=f"wallet:{books.ngn_wallet_id}",
        currency="USD",
        amount=0,
        wallet_id=books.ngn_wallet_id,
        balance_after=NGN_BALANCE,
    )

    assert await reported(db) == {"wallet_entry_currency"}


@pytest.mark.corrupts_ledger
async def test_given_a_wallet_debit_that_disagrees_with_the_ledger_when_verified_then_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    await execute(
        db,
        "UPDATE payments SET wallet_debit = wallet_debit + 1 WHERE id = :id",
        id=books.payment_id,
    )

    violations = await verify_ledger(db)

    assert [(v.check, v.subject) for v in violations] == [
        ("payment_wallet_entry", books.payment_id)
    ]


@pytest.mark.corrupts_ledger
async def test_given_a_settled_currency_that_disagrees_with_the_ledger_when_verified_then_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    await execute(db, "UPDATE payments SET currency = 'GHS' WHERE id = :id", id=books.payment_id)

    assert await reported(db) == {"payment_settled_entry"}


@pytest.mark.corrupts_ledger
async def test_given_a_payment_without_ledger_entries_when_verified_then_all_its_checks_fail(
    db: Database,
) -> None:
    books = await given_books(db)
    await execute(
        db,
        "INSERT INTO payments (id, tenant_id, invoice_id, customer_id, wallet_id, currency,"
        " amount, wallet_currency, wallet_debit, exchange_rate, discount, created_at)"
        " SELECT 'pay_ghost', tenant_id, id, customer_id, :wallet, 'NGN', 100, 'NGN', 100,"
        " '1', 0, CURRENT_TIMESTAMP FROM invoices WHERE number = :number",
        wallet=books.ngn_wallet_id,
        number=books.unpaid,
    )

    violations = await verify_ledger(db)

    assert {(v.check, v.subject) for v in violations} == {
        ("payment_wallet_entry", "pay_ghost"),
        ("payment_settled_entry", "pay_ghost"),
        ("invoice_amount_paid", f"invoice {books.unpaid}"),
    }


@pytest.mark.corrupts_ledger
async def test_given_amount_paid_changed_without_a_payment_when_verified_then_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    await execute(
        db,
        "UPDATE invoices SET amount_paid = amount_paid + 1 WHERE number = :n",
        n=books.partly_paid,
    )

    violations = await verify_ledger(db)

    assert [(v.check, v.subject) for v in violations] == [
        ("invoice_amount_paid", f"invoice {books.partly_paid}")
    ]
    assert violations[0].detail == "amount_paid 2001 but payments sum to 2000"


@pytest.mark.corrupts_ledger
async def test_given_a_discount_applied_without_a_payment_when_verified_then_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    await execute(
        db, "UPDATE invoices SET discount_applied = 100 WHERE number = :n", n=books.partly_paid
    )

    assert await reported(db) == {"invoice_discount_applied"}


@pytest.mark.corrupts_ledger
async def test_given_an_invoice_paid_beyond_its_total_when_verified_then_it_is_reported(
    db: Database,
) -> None:
    books = await given_books(db)
    async with check_constraint_off(
        db, "invoices", "invoice_amounts_in_range", INVOICE_CHECK
    ) as write:
        await write("UPDATE invoices SET amount_paid = total + 1 WHERE number = :n", n=books.paid)

        checks = await reported(db)

    assert {"invoice_within_total", "invoice_amount_paid"} <= checks


@pytest.mark.corrupts_ledger
@pytest.mark.parametrize(
    ("invoice", "status", "expected"),
    [
        ("partly_paid", "PAID", "PARTIALLY_PAID"),
        ("paid", "VOID", "PAID"),
        ("paid", "PARTIALLY_PAID", "PAID"),
        ("unpaid", "PARTIALLY_PAID", "UNPAID"),
    ],
)
async def test_given_a_status_that_contradicts_the_amounts_when_verified_then_it_is_reported(
    db: Database, invoice: str, status: str, expected: str
) -> None:
    books = await given_books(db)
    number = getattr(books, invoice)
    await execute(db, "UPDATE invoices SET status = :s WHERE number = :n", s=status, n=number)

    violations = await verify_ledger(db)
    assert [(v.check, v.subject, v.detail) for v in violations] == [
        ("invoice_status", f"invoice {number}", f"status {status} but amounts say {expected}")
    ]


# --- refunds ---------------------------------------------------------------------------------


async def given_refunds(db: Database) -> Books:
    """`given_books` with refunds: 5.00 of the partial payment (20.00 → 15.00 paid), the
    discounted payment whole, and 3.50 of the 5.00-from-USD one in two steps."""
    books = await given_books(db)
    sql = "SELECT i.number, p.id FROM payments p JOIN invoices i ON i.id = p.invoice_id"
    async with db.engine.connect() as connection:
        rows = (await connection.execute(text(sql))).all()
    ids: dict[int, str] = {int(row[0]): str(row[1]) for row in rows}
    await refund_payment(
        db, RefundPayment(tenant_id=TENANT, payment_id=books.payment_id, amount=Decimal("5"))
    )
    await refund_payment(db, RefundPayment(tenant_id=TENANT, payment_id=ids[4]))
    for part in ("2.50", "1.00"):
        await refund_payment(
            db, RefundPayment(tenant_id=TENANT, payment_id=ids[5], amount=Decimal(part))
        )
    return books


async def test_given_refunds_through_the_service_when_verified_then_no_violation(
    db: Database,
) -> None:
    await given_refunds(db)

    assert await verify_ledger(db) == []


@pytest.mark.corrupts_ledger
async def test_given_refunds_beyond_the_payment_when_verified_then_reported(db: Database) -> None:
    books = await given_refunds(db)
    await execute(
        db, "UPDATE refunds SET amount = amount + 1600 WHERE payment_id = :p", p=books.payment_id
    )

    violations = await verify_ledger(db)

    assert {v.check for v in violations} == {
        "refunds_within_payment",
        "refund_entries",
        "invoice_amount_paid",
    }
    within = next(v for v in violations if v.check == "refunds_within_payment")
    assert (within.subject, within.detail) == (
        books.payment_id,
        "refunds sum to 2100 NGN, more than 2000",
    )


@pytest.mark.corrupts_ledger
async def test_given_credits_beyond_the_debit_when_verified_then_reported(db: Database) -> None:
    books = await given_refunds(db)
    await execute(
        db,
        "UPDATE refunds SET wallet_credit = wallet_credit + 1601 WHERE payment_id = :p",
        p=books.payment_id,
    )

    violations = await verify_ledger(db)

    assert {v.check for v in violations} == {"refund_credits_within_debit", "refund_entries"}
    credits = next(v for v in violations if v.check == "refund_credits_within_debit")
    assert credits.detail == "credits sum to 2101 NGN, more than 2000"


@pytest.mark.corrupts_ledger
async def test_given_a_refund_without_its_entries_when_verified_then_reported(
    db: Database,
) -> None:
    books = await given_refunds(db)
    await execute(
        db,
        "UPDATE refunds SET wallet_credit = wallet_credit - 1 WHERE payment_id = :p",
        p=books.payment_id,
    )

    violations = await verify_ledger(db)

    assert [v.check for v in violations] == ["refund_entries"]
    assert violations[0].detail == (
        "expected +499 on the wallet and -500 settled, found 1 wallet entries summing to 500"
        " and 1 settled summing to -500"
    )


@pytest.mark.corrupts_ledger
async def test_given_amount_paid_that_ignores_a_refund_when_verified_then_reported(
    db: Database,
) -> None:
    books = await given_refunds(db)
    await execute(
        db,
        "UPDATE invoices SET amount_paid = amount_paid + 500 WHERE number = :n",
        n=books.partly_paid,
    )

    violations = await verify_ledger(db)

    assert [(v.check, v.detail) for v in violations] == [
        ("invoice_amount_paid", "amount_paid 2000 but payments sum to 1500")
    ]


@pytest.mark.corrupts_ledger
async def test_given_a_discount_kept_after_its_refund_when_verified_then_reported(
    db: Database,
) -> None:
    await given_refunds(db)
    await execute(db, "UPDATE invoices SET discount_applied = 100 WHERE number = 4")

    assert await reported(db) == {"invoice_discount_applied", "invoice_status"}
