"""The check order as code states it (`app.payments.rules.Check`), with no database: the
one payment loop runs over a store that answers from rows held in memory. Each check is
produced alone, and every pair of failures answers the earlier check."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations

import pytest

from app import errors
from app.db.models import Invoice, Wallet
from app.payments import Check, PayInvoice, Settlement
from app.payments import service as pay_service
from app.payments.receipt import receipt_of
from app.payments.store import Snapshot, Write

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OTHER_FINGERPRINT = "f" * 64


@dataclass(frozen=True)
class Case:
    """One payment in memory: NGN 50.00 due, paid 10.00 from a wallet of 100.00."""

    customer_found: bool = True
    currency: str = "NGN"
    invoice_exists: bool = True
    invoice_customer: str = "cus_ada"
    invoice_currency: str = "NGN"
    invoice_status: str = "UNPAID"
    wallet_exists: bool = True
    wallet_balance: int = 10_000
    amount: str = "10.00"
    held: str | None = None

    def command(self) -> PayInvoice:
        return PayInvoice(
            tenant_id="ten",
            customer_id="cus_ada",
            invoice_number=7,
            currency=self.currency,
            amount=Decimal(self.amount),
            idempotency_key="k",
        )

    def snapshot(self) -> Snapshot:
        invoice = Invoice(
            id="inv",
            tenant_id="ten",
            number=7,
            customer_id=self.invoice_customer,
            currency=self.invoice_currency,
            total=5000,
            status=self.invoice_status,
        )
        wallet = Wallet(
            id="wal", tenant_id="ten", customer_id="cus_ada", currency="NGN", balance=10_000
        )
        wallet.balance = self.wallet_balance
        return Snapshot(
            self.customer_found,
            invoice if self.invoice_exists else None,
            wallet if self.wallet_exists else None,
            self.held,
            None if self.held is None else '{"ok": {}}',
        )


# The one failure of each check the service runs, as a change to the good case.
FAILURES: dict[Check, Case] = {
    Check.USER_NOT_FOUND: Case(customer_found=False),
    Check.CURRENCY_NOT_FOUND: Case(currency="XYZ"),
    Check.INVOICE_NOT_FOUND: Case(invoice_exists=False),
    Check.INVOICE_OWNERSHIP_MISMATCH: Case(invoice_customer="cus_bola"),
    Check.CURRENCY_MISMATCH: Case(invoice_currency="USD"),
    Check.INVOICE_ALREADY_PAID: Case(invoice_status="PAID"),
    Check.WALLET_NOT_FOUND: Case(wallet_exists=False),
    Check.WRONG_AMOUNT: Case(amount="60.00"),
    Check.INSUFFICIENT_FUNDS: Case(wallet_balance=100),
    Check.IDEMPOTENCY_KEY_REUSED: Case(held=OTHER_FINGERPRINT),
}


class InMemory:
    """A `PaymentStore` over one snapshot: what it was asked to keep or write."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.held = snapshot
        self.kept: list[str] = []
        self.written: list[Write] = []

    async def read(self, command: PayInvoice, wallet_currency: str | None) -> Snapshot:
        return self.held

    async def write(self, write: Write) -> Settlement | None:
        self.written.append(write)
        return Settlement(receipt_of(write.payment_id, write.invoice, write.wallet, 0))

    async def keep_refusal(
        self, command: PayInvoice, fingerprint: str, outcome: str, now: datetime
    ) -> bool:
        self.kept.append(outcome)
        return True


def failed_check(case: Case) -> tuple[Check, InMemory]:
    store = InMemory(case.snapshot())
    with pytest.raises(errors.DomainError) as raised:
        asyncio.run(pay_service._attempt(store, case.command(), NOW))
    return Check.of(raised.value), store


def merged(first: Case, second: Case) -> Case:
    """The good case with both failures (each changes a field of its own)."""
    good = Case()
    changes = {
        name: value
        for case in (first, second)
        for name, value in vars(case).items()
        if value != getattr(good, name)
    }
    return replace(good, **changes)


def test_the_checks_are_named_in_the_order_of_the_contract() -> None:
    assert [check.name for check in Check] == [
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "RATE_LIMITED",
        "INVALID_REQUEST",
        "USER_NOT_FOUND",
        "CURRENCY_NOT_FOUND",
        "INVOICE_NOT_FOUND",
        "INVOICE_OWNERSHIP_MISMATCH",
        "CURRENCY_MISMATCH",
        "INVOICE_ALREADY_PAID",
        "WALLET_NOT_FOUND",
        "WRONG_AMOUNT",
        "INSUFFICIENT_FUNDS",
        "IDEMPOTENCY_KEY_REUSED",
    ]
    assert sorted(Check) == list(Check)
    assert set(FAILURES) == {check for check in Check if check >= Check.USER_NOT_FOUND}


def test_the_good_case_is_written_with_its_plan() -> None:
    store = InMemory(Case().snapshot())
    settlement = asyncio.run(pay_service._attempt(store, Case().command(), NOW))
    assert settlement is not None and store.kept == []
    [write] = store.written
    assert (write.plan.amount, write.plan.debit, write.plan.discount) == (1000, 1000, 0)


@pytest.mark.parametrize("check", list(FAILURES), ids=lambda check: check.name)
def test_each_check_alone_answers_its_error_and_writes_no_payment(check: Check) -> None:
    answered, store = failed_check(FAILURES[check])
    assert answered is check
    assert store.written == []
    # a refusal binds its key, except before the key is looked at and when the key is
    # another request's
    binds = Check.CURRENCY_NOT_FOUND < check < Check.IDEMPOTENCY_KEY_REUSED
    assert len(store.kept) == (1 if binds else 0)


@pytest.mark.parametrize(
    ("first", "second"),
    list(combinations(FAILURES, 2)),
    ids=lambda check: check.name,
)
def test_of_two_failures_the_earlier_check_answers(first: Check, second: Check) -> None:
    assert failed_check(merged(FAILURES[first], FAILURES[second]))[0] is first


def test_a_void_invoice_fails_the_already_paid_check() -> None:
    assert failed_check(Case(invoice_status="VOID"))[0] is Check.INVOICE_ALREADY_PAID


def test_a_malformed_request_fails_before_anything_is_read() -> None:
    with pytest.raises(errors.InvalidRequest):
        replace(Case().command(), memo="m" * 1001).check_shape()
