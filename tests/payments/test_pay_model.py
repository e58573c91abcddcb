"""payInvoice and refundPayment against a model, on both backends: Hypothesis drives
top-ups, new invoices, payments (full, partial, across currencies, with the early-payment
discount), refunds of them (whole, partial, discounted, cross-currency, with a stale
`expectedRefundable`, of missing or another tenant's payments), voids, a moving clock, and
replays and reuses of idempotency keys (customers' and the admins'), while an in-memory
model of the tenant's wallets, invoices, payments and keys predicts the outcome of every
call: a success and what it settles, debits or credits, or which DomainError with which
data. After every step the database must equal the model; after every example
`verify_ledger` must find nothing.

The model follows DESIGN.md, not app/payments/service.py or app/refunds: the checks in the
table's order, the wallet debit as amount / rate rounded up to the wallet currency's minor
unit (integer arithmetic on the rate's exact ratio, never a float), a refund's credit as
floor(D * R / A) in all, and idempotency keys bound to the parameters of their first
request, whose outcome (success or error) they replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import errors
from app.billing import admin
from app.db.engine import Database
from app.db.models import Customer, Tenant, new_id
from app.db.uow import UnitOfWork
from app.kit.money import MAX_MINOR
from app.ledger.verify import verify_ledger
from app.payments import PayInvoice, PaymentReceipt, pay_invoice
from app.refunds import RefundPayment, RefundResult, refund_payment
from tests.support.figures import report

# 250 examples per backend (500 in all; Hypothesis runs some 20 % more) of at most 12 steps
# (9 on average) fit about three minutes on a busy two-core machine. PAY_MODEL_EXAMPLES
# runs more (fewer may no longer reach every outcome: see the end of the test).
EXAMPLES_PER_BACKEND = int(os.environ.get("PAY_MODEL_EXAMPLES", "250"))
STEPS_PER_EXAMPLE = 12
SETTINGS = settings(
    max_examples=EXAMPLES_PER_BACKEND,
    stateful_step_count=STEPS_PER_EXAMPLE,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,
    # Shrink only the first failure, and skip the explain phase (it traces every line the
    # service runs): each try is a real example against the database.
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)

# Minor-unit exponents (DESIGN.md): the model's own table, not the service's.
EXPONENTS = {"NGN": 2, "USD": 2, "JPY": 0, "KWD": 3}
CURRENCIES = sorted(EXPONENTS)
UNKNOWN_CURRENCY = "QQQ"
NUMBERS = range(1, 7)  # invoice numbers: some exist, some never will
CUSTOMERS = 2
GHOST = -1  # a customer id that does not exist in the tenant
KEYS = ("k-1", "k-2", "k-3")
START = datetime(2031, 1, 6, 9, 0, tzinfo=UTC)
# A run that never pays, or never meets one of the errors, proves little: each must occur.
OUTCOMES_EVERY_RUN_REACHES = {
    "paid",
    "paid across currencies",
    "paid with discount",
    "replayed success",
    "replayed error",
    "UserNotFound",
    "CurrencyNotFound",
    "InvoiceNotFound",
    "InvoiceOwnershipMismatch",
    "CurrencyMismatch",
    "InvoiceAlreadyPaid",
    "InvoiceVoid",
    "WalletNotFound",
    "WrongAmount",
    "InsufficientFunds",
    "IdempotencyKeyReused",
    "voided",
    "refunded whole",
    "refunded in part",
    "refunded across currencies",
    "refund credit rounded down",
    "refunded with discount",
    "refund replayed success",
    "refund replayed error",
    "refund PaymentNotFound",
    "refund RefundExceedsRefundable",
    "refund WrongAmount",
    "refund STALE_REFUNDABLE",
    "refund PARTIAL_REFUND_OF_DISCOUNTED_PAYMENT",
    "refund IdempotencyKeyReused",
    "paid again after a refund",
}
MISSING_PAYMENT = "pay_" + "0" * 24


def major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-EXPONENTS[currency])


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def exact_minor(amount: Decimal, currency: str) -> int | None:
    """`amount` in minor units of `currency`, or None when it has too many decimals."""
    numerator, denominator = amount.as_integer_ratio()
    scaled = numerator * 10 ** EXPONENTS[currency]
    return scaled // denominator if scaled % denominator == 0 else None


def wallet_debit(amount: int, invoice_currency: str, wallet_currency: str, rate: Decimal) -> int:
    """DESIGN: debit = amount / rate (invoice units per wallet unit), rounded up to the
    wallet currency's minor unit. With rate = n/d exactly:
    debit = ceil(amount * 10^we * d / (10^ie * n))."""
    n, d = rate.as_integer_ratio()
    return ceil_div(
        amount * 10 ** EXPONENTS[wallet_currency] * d,
        10 ** EXPONENTS[invoice_currency] * n,
    )


@dataclass
class ModelInvoice:
    owner: int
    currency: str
    total: int
    percent: Decimal | None
    until: datetime | None
    amount_paid: int = 0
    discount_applied: int = 0
    status: str = "UNPAID"

    @property
    def balance_due(self) -> int:
        return self.total - self.discount_applied - self.amount_paid

    def discount_open(self, now: datetime) -> bool:
        """DESIGN: terms exist, the deadline has not passed, no payment was made yet."""
        return (
            self.percent is not None
            and self.until is not None
            and now <= self.until
            and self.amount_paid == 0
            and self.discount_applied == 0
        )

    def discount(self) -> int:
        """The terms' percent of the total, rounded down (never more than the terms)."""
        assert self.percent is not None
        n, d = self.percent.as_integer_ratio()
        return self.total * n // (100 * d)


@dataclass(frozen=True)
class Request:
    """One payInvoice call by customer `who` (an index, or GHOST)."""

    who: int
    number: int
    currency: str
    amount: Decimal | None = None
    wallet_currency: str | None = None
    rate: Decimal | None = None
    expected: Decimal | None = None
    discount: bool = False
    reference: str | None = None
    memo: str | None = None
    accounting_code: str | None = None
    key: str | None = None

    def params(self) -> tuple[object, ...]:
        """What makes two requests "the same parameters": decimals compare by value
        (5000 == 5000.00) and walletCurrency by what it names (absent = `currency`)."""
        return (
            self.number,
            self.currency,
            self.amount,
            self.wallet_currency or self.currency,
            self.rate,
            self.expected,
            self.discount,
            self.reference,
            self.memo,
            self.accounting_code,
        )


@dataclass(frozen=True)
class Paid:
    """A predicted success: minor units settled, discounted and debited."""

    amount: int
    discount: int
    debit: int
    rate: Decimal


@dataclass(frozen=True)
class AnyWrongAmount:
    """A predicted WrongAmount: the service reports one of `reasons` (their order inside
    Check.WRONG_AMOUNT is not part of the contract)."""

    reasons: frozenset[str]
    currency: str
    balance_due: int


@dataclass
class ModelPayment:
    """A payment the model saw succeed, and what its refunds gave back so far."""

    who: int
    number: int
    amount: int
    debit: int
    wallet_currency: str
    discount: int
    refunded: int = 0
    credited: int = 0

    @property
    def refundable(self) -> int:
        return self.amount - self.refunded


@dataclass(frozen=True)
class RefundRequest:
    """One refundPayment call by an admin of the tenant."""

    payment_id: str
    amount: Decimal | None = None
    reason: str | None = None
    expected: Decimal | None = None
    key: str | None = None

    def params(self) -> tuple[object, ...]:
        """What makes two refunds "the same parameters" (decimals compare by value)."""
        return ("refund", self.payment_id, self.amount, self.reason, self.expected)


@dataclass(frozen=True)
class Refunded:
    """A predicted refund: minor units of the invoice currency, and of the wallet's."""

    amount: int
    credit: int


Expected = Paid | Refunded | AnyWrongAmount | errors.DomainError
Outcome = PaymentReceipt | RefundResult | errors.DomainError


@dataclass(frozen=True)
class KeyRecord:
    params: tuple[object, ...]
    outcome: Outcome


@dataclass
class Environment:
    """What every example of one backend shares: the event loop, the database, a
    connection kept open for the invariant's reads (one per step), and counts."""

    runner: asyncio.Runner
    db: Database
    reader: AsyncConnection
    # A payment of a tenant no example uses: another tenant's, refused as a missing one.
    foreign_payment: str = ""
    counts: Counter[str] = field(default_factory=Counter)

    def run(self, awaitable: Any) -> Any:
        return self.runner.run(awaitable)

    async def read(self, *statements: str, **params: object) -> list[list[tuple[Any, ...]]]:
        """The rows of each statement, in one transaction, ended at once (a fresh
        snapshot for the next step)."""
        try:
            return [
                [tuple(row) for row in await self.reader.execute(text(sql), params)]
                for sql in statements
            ]
        finally:
            await self.reader.rollback()


# --- strategies --------------------------------------------------------------------------

customers = st.integers(0, CUSTOMERS - 1)
known_currencies = st.sampled_from(CURRENCIES)
totals = st.one_of(st.integers(1_000, 300_000), st.integers(1, 100))
top_ups = st.one_of(st.integers(100_000, 900_000), st.integers(1, 1_000))
percents = st.one_of(
    st.sampled_from([Decimal("5"), Decimal("2.5"), Decimal("10"), Decimal("33.3333")]),
    st.integers(1, 999_999).map(lambda n: Decimal(n).scaleb(-4)),
)
# Valid cross-currency rates, 10^-8 to 99999 with up to 8 decimals: inside the service's
# bounds (<= 10^9, <= 12 decimals), and mostly debits a funded wallet can cover.
rates = st.one_of(
    st.sampled_from([Decimal("1500"), Decimal("0.0006667"), Decimal("3"), Decimal("0.3")]),
    st.builds(
        lambda n, places: Decimal(n).scaleb(-places), st.integers(1, 99_999), st.integers(0, 4)
    ),
    st.builds(
        lambda n, places: Decimal(n).scaleb(-places), st.integers(1, 10**8), st.integers(4, 8)
    ),
)
# Rates a wallet topped up for the whole debit can pay at (DESIGN: invoice units per
# wallet unit), with a remainder to round for most amounts.
FUNDED_RATES = [Decimal("1500"), Decimal("3"), Decimal("0.3"), Decimal("7.77")]
# A discount's percent and its deadline in hours from now, or no discount.
terms = st.tuples(percents, st.integers(-24, 72)) | st.none()
# Never valid: a rate must be positive.
bad_rates = st.sampled_from([Decimal(0), Decimal(-2)])
texts = st.none() | st.sampled_from(["a", "b"])


class PaymentModel(RuleBasedStateMachine):
    """One tenant per example (a fresh cloneId), two customers, invoices numbered 1-6."""

    env: ClassVar[Environment]

    def __init__(self) -> None:
        super().__init__()
        self.tenant = secrets.token_hex(12)
        self.customers: list[str] = []
        self.ghost = f"cus_{secrets.token_hex(12)}"
        self.wallets: dict[tuple[int, str], int] = {}
        self.invoices: dict[int, ModelInvoice] = {}
        self.keys: dict[tuple[int, str], KeyRecord] = {}
        self.sent: list[Request] = []  # requests that carried a key
        self.payments: dict[str, tuple[object, ...]] = {}  # id -> the payment's row
        self.made: dict[str, ModelPayment] = {}  # id -> what a refund may give back
        self.refunds: dict[str, tuple[object, ...]] = {}  # id -> the refund's row
        self.refund_keys: dict[str, KeyRecord] = {}  # the admins' keys, apart from customers'
        self.refunds_sent: list[RefundRequest] = []  # refunds that carried a key
        self.wallet_entries = 0  # one per top-up, payment and refund
        self.clock = START
        self.fresh_keys = 0

    # --- plumbing ------------------------------------------------------------------------

    def run(self, awaitable: Any) -> Any:
        return self.env.run(awaitable)

    def attempt(self, awaitable: Any) -> Any:
        try:
            return self.run(awaitable)
        except errors.DomainError as error:
            return error

    def count(self, outcome: str) -> None:
        self.env.counts[outcome] += 1

    def customer_id(self, who: int) -> str:
        return self.ghost if who == GHOST else self.customers[who]

    def draw_key(
        self, data: st.DataObject, choices: tuple[str, ...] = ("none", "none", "pool", "fresh")
    ) -> str | None:
        choice = data.draw(st.sampled_from(choices))
        if choice == "pool":
            return data.draw(st.sampled_from(KEYS))
        if choice == "fresh":
            self.fresh_keys += 1
            return f"fresh-{self.fresh_keys}"
        return None

    def fund(self, data: st.DataObject, who: int, currency: str) -> None:
        """Mostly, a customer about to pay from a wallet it lacks first tops it up."""
        if (who, currency) not in self.wallets and data.draw(st.integers(0, 3)) < 3:
            self.top_up_wallet(who, currency, data.draw(top_ups))

    def open_invoices(self) -> list[int]:
        return [
            number
            for number, invoice in sorted(self.invoices.items())
            if invoice.status in ("UNPAID", "PARTIALLY_PAID")
        ]

    # --- setup ---------------------------------------------------------------------------

    @initialize(currency=known_currencies, total=totals, terms=terms, funds=top_ups)
    def open_tenant(
        self, currency: str, total: int, terms: tuple[Decimal, int] | None, funds: int
    ) -> None:
        """A new tenant, its two customers, and customer 0's invoice 1 and a wallet of the
        invoice's currency: the payment rules have something to pay from the first step."""
        self.count("examples")
        self.customers = self.run(open_tenant(self.env.db, self.tenant))
        self.create_invoice(1, 0, currency, total, terms)
        self.top_up_wallet(0, currency, funds)

    # --- admin rules ---------------------------------------------------------------------

    # Hypothesis favours the first rules in its order (fewest arguments, then by name):
    # the admin rules take two arguments so that the payment rules come first.

    @rule(data=st.data(), who=customers)
    def top_up(self, data: st.DataObject, who: int) -> None:
        self.count("steps")
        owed = [i.currency for i in self.invoices.values() if i.owner == who]
        currency = data.draw(st.sampled_from(owed * 4 + CURRENCIES))
        self.top_up_wallet(who, currency, data.draw(top_ups), data.draw(st.integers(0, 9)) == 0)

    def top_up_wallet(self, who: int, currency: str, minor: int, too_precise: bool = False) -> None:
        self.count("calls")
        amount = major(minor, currency)
        if too_precise:
            amount += Decimal(1).scaleb(-EXPONENTS[currency] - 1)
        outcome = self.attempt(
            admin.top_up_wallet(self.env.db, self.tenant, self.customers[who], currency, amount)
        )
        if too_precise:
            assert outcome == errors.InvalidInput(field="amount", reason="TOO_PRECISE"), outcome
            return
        assert not isinstance(outcome, errors.DomainError), outcome
        balance = self.wallets.get((who, currency), 0) + minor
        self.wallets[(who, currency)] = balance
        self.wallet_entries += 1
        assert outcome.balance == balance
        self.count("topped up")

    @rule(data=st.data(), owner=customers)
    def new_invoice(self, data: st.DataObject, owner: int) -> None:
        self.count("steps")
        free = [number for number in NUMBERS if number not in self.invoices]
        self.create_invoice(
            data.draw(st.sampled_from(free * 4 + list(NUMBERS))),
            owner,
            data.draw(known_currencies),
            data.draw(totals),
            data.draw(terms),
        )

    def create_invoice(
        self, number: int, owner: int, currency: str, total: int, terms: tuple[Decimal, int] | None
    ) -> None:
        """`terms`: the discount's percent, and its deadline in hours from now."""
        self.count("calls")
        percent, until = None, None
        if terms is not None:
            percent, until = terms[0], self.clock + timedelta(hours=terms[1])
        new = admin.NewInvoice(
            number=number,
            customer_id=self.customers[owner],
            currency=currency,
            total=major(total, currency),
            discount_percent=percent,
            discount_until=until,
        )
        outcome = self.attempt(admin.create_invoice(self.env.db, self.tenant, new))
        if number in self.invoices:
            assert outcome == errors.InvoiceNumberTaken(number=number), outcome
            return
        assert not isinstance(outcome, errors.DomainError), outcome
        self.invoices[number] = ModelInvoice(owner, currency, total, percent, until)

    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        self.count("steps")
        self.count("calls")
        unpaid = [n for n, i in sorted(self.invoices.items()) if i.status == "UNPAID"]
        number = data.draw(st.sampled_from(unpaid + list(NUMBERS)))
        invoice = self.invoices.get(number)
        expected: errors.DomainError | None = None
        if invoice is None:
            expected = errors.InvoiceNotFound(number=number)
        elif invoice.status == "PAID":
            expected = errors.InvoiceAlreadyPaid(number=number)
        elif invoice.status == "VOID":
            expected = errors.InvoiceVoid(number=number)
        elif invoice.amount_paid:
            expected = errors.InvoiceHasPayments(number=number)
        outcome = self.attempt(admin.void_invoice(self.env.db, self.tenant, number))
        if expected is not None:
            assert outcome == expected, (outcome, expected)
            return
        assert invoice is not None
        assert not isinstance(outcome, errors.DomainError), outcome
        assert outcome.status == "VOID"
        invoice.status = "VOID"
        self.count("voided")

    # --- payment rules -------------------------------------------------------------------

    @rule(data=st.data())
    def pay_anything(self, data: st.DataObject) -> None:
        """Any request at all: most end in one of the errors, in DESIGN's order."""
        self.count("steps")
        number = data.draw(st.sampled_from(sorted(self.invoices) * 3 + list(NUMBERS)))
        invoice = self.invoices.get(number)
        choices = [*CURRENCIES, UNKNOWN_CURRENCY]
        if invoice is not None:
            choices = [invoice.currency] * 4 + choices
        currency = data.draw(st.sampled_from(choices))
        amount = None
        if currency in EXPONENTS:
            amount = data.draw(
                st.none()
                | st.integers(-2, 400_000).map(lambda minor: major(minor, currency))
                | st.integers(1, 9_999).map(lambda n: Decimal(n).scaleb(-6))
            )
        self.pay(
            Request(
                who=data.draw(st.sampled_from([0, 0, 0, 1, 1, GHOST])),
                number=number,
                currency=currency,
                amount=amount,
                wallet_currency=data.draw(st.none() | st.sampled_from(choices)),
                rate=data.draw(st.none() | st.just(Decimal(1)) | rates | bad_rates),
                expected=data.draw(
                    st.none() | st.integers(0, 300_000).map(lambda m: Decimal(m).scaleb(-2))
                ),
                discount=data.draw(st.booleans()),
                key=self.draw_key(data),
            )
        )

    @precondition(lambda self: self.open_invoices())
    @rule(data=st.data())
    def pay_in_full(self, data: st.DataObject) -> None:
        """The whole balance due, named or left out; now and then by the wrong customer,
        or of an invoice already paid or void."""
        self.count("steps")
        closed = [n for n in sorted(self.invoices) if n not in self.open_invoices()]
        number = data.draw(st.sampled_from(self.open_invoices() * 4 + closed))
        invoice = self.invoices[number]
        self.fund(data, invoice.owner, invoice.currency)
        due = major(invoice.balance_due, invoice.currency)
        self.pay(
            Request(
                who=data.draw(st.sampled_from([invoice.owner] * 5 + [1 - invoice.owner])),
                number=number,
                currency=invoice.currency,
                amount=data.draw(st.none() | st.just(due)),
                expected=data.draw(st.none() | st.just(due)),
                reference=data.draw(texts),
                memo=data.draw(texts),
                accounting_code=data.draw(texts),
                key=self.draw_key(data),
            )
        )

    @precondition(lambda self: self.open_invoices())
    @rule(data=st.data())
    def pay_part(self, data: st.DataObject) -> None:
        """Part of the balance due (or just over it, or with a decimal too many)."""
        self.count("steps")
        number = data.draw(st.sampled_from(self.open_invoices()))
        invoice = self.invoices[number]
        currency, due = invoice.currency, invoice.balance_due
        self.fund(data, invoice.owner, currency)
        minor = data.draw(st.integers(1, max(due, 1)) | st.integers(due - 1, due + 2))
        amount = major(minor, currency)
        if data.draw(st.integers(0, 9)) == 0:
            amount += Decimal(5).scaleb(-EXPONENTS[currency] - 1)
        self.pay(
            Request(
                who=invoice.owner,
                number=number,
                currency=currency,
                amount=amount,
                expected=data.draw(
                    st.none() | st.sampled_from([due, due + 1]).map(lambda m: major(m, currency))
                ),
                reference=data.draw(texts),
                key=self.draw_key(data),
            )
        )

    @precondition(lambda self: self.open_invoices())
    @rule(data=st.data())
    def pay_across_currencies(self, data: st.DataObject) -> None:
        """From a wallet of another currency, at some exchange rate (or none, or zero)."""
        self.count("steps")
        number = data.draw(st.sampled_from(self.open_invoices()))
        invoice = self.invoices[number]
        owned = [c for (who, c) in self.wallets if who == invoice.owner and c != invoice.currency]
        others = [c for c in CURRENCIES if c != invoice.currency]
        if not owned:
            owned = [data.draw(st.sampled_from(others))]
            self.fund(data, invoice.owner, owned[0])
        due = invoice.balance_due
        self.pay(
            Request(
                who=invoice.owner,
                number=number,
                currency=invoice.currency,
                amount=data.draw(
                    st.none()
                    | st.integers(1, max(due, 1)).map(lambda m: major(m, invoice.currency))
                ),
                wallet_currency=data.draw(st.sampled_from(owned * 9 + others)),
                rate=data.draw(rates | st.none() | bad_rates),
                key=self.draw_key(data),
            )
        )

    @precondition(lambda self: self.open_invoices())
    @rule(data=st.data(), hours=st.sampled_from([0, 0, 0, 6, 30]))
    def pay_with_discount(self, data: st.DataObject, hours: int) -> None:
        """`hours` pass, then the early-payment discount is asked for."""
        self.count("steps")
        self.clock += timedelta(hours=hours)
        numbers = self.open_invoices()
        untouched = [
            n
            for n in numbers
            if self.invoices[n].percent is not None and self.invoices[n].amount_paid == 0
        ]
        number = data.draw(st.sampled_from(untouched * 4 + numbers))
        invoice = self.invoices[number]
        payable = invoice.balance_due
        if invoice.percent is not None:
            payable -= invoice.discount()
        minor = data.draw(st.none() | st.just(payable) | st.integers(1, invoice.total))
        owned = [c for (who, c) in self.wallets if who == invoice.owner]
        wallet_currency = data.draw(st.none() | st.sampled_from(owned * 3 + CURRENCIES))
        self.fund(data, invoice.owner, wallet_currency or invoice.currency)
        rate = None
        if wallet_currency not in (None, invoice.currency):
            rate = data.draw(rates)
        self.pay(
            Request(
                who=invoice.owner,
                number=number,
                currency=invoice.currency,
                amount=None if minor is None else major(minor, invoice.currency),
                wallet_currency=wallet_currency,
                rate=rate,
                discount=data.draw(st.sampled_from([True, True, True, False])),
                key=self.draw_key(data),
            )
        )

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """A request with a key again, its decimals perhaps written differently."""
        self.count("steps")
        request = data.draw(st.sampled_from(self.sent))
        if request.amount is not None and data.draw(st.booleans()):
            request = dataclasses.replace(request, amount=request.amount.quantize(Decimal("1E-6")))
        self.pay(request)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def reuse_key(self, data: st.DataObject) -> None:
        """A request with a key again, one parameter changed (mostly a request on an
        invoice still open, where the change alone decides)."""
        self.count("steps")
        still_open = [r for r in self.sent if r.number in self.open_invoices()]
        request = data.draw(st.sampled_from(still_open * 3 + self.sent))
        one_minor = Decimal(1).scaleb(-EXPONENTS.get(request.currency, 0))
        changes: list[dict[str, Any]] = [
            {"amount": one_minor if request.amount != one_minor else 2 * one_minor},
            {"memo": (request.memo or "") + "!"},
            {"reference": (request.reference or "") + "!"},
            {"discount": not request.discount},
            {"number": request.number % len(NUMBERS) + 1},
        ]
        if request.amount is not None:
            changes.append({"amount": request.amount + one_minor})
            changes.append({"amount": None})
        self.pay(dataclasses.replace(request, **data.draw(st.sampled_from(changes))))

    # --- refund rules --------------------------------------------------------------------

    @precondition(lambda self: self.made or self.open_invoices())
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        """All that is left (named or left out), part of it, just over it, nothing, or a
        decimal too many; now and then with a stale `expectedRefundable`, or of a payment
        that is missing or another tenant's."""
        self.count("steps")
        self.make_refundable(data)
        ids = list(self.made)
        left = [i for i in ids if self.made[i].refundable > 0]
        discounted = [i for i in left if self.made[i].discount]
        across = [i for i in left if self.made[i].debit != self.made[i].amount]
        elsewhere = [MISSING_PAYMENT, self.env.foreign_payment]
        payment_id = data.draw(
            st.sampled_from(left * 6 + discounted * 6 + across * 6 + ids * 2 + elsewhere)
        )
        made = self.made.get(payment_id)
        currency = "NGN" if made is None else self.invoices[made.number].currency
        refundable = 0 if made is None else made.refundable
        minor = data.draw(
            st.none()
            | st.just(refundable)
            | st.integers(1, max(refundable, 1))
            | st.sampled_from([refundable + 1, 0, -1])
        )
        amount = None if minor is None else major(minor, currency)
        if amount is not None and data.draw(st.integers(0, 9)) == 0:
            amount += Decimal(5).scaleb(-EXPONENTS[currency] - 1)
        guards = [refundable, refundable, refundable - 1, refundable + 1]
        self.refund_payment(
            RefundRequest(
                payment_id,
                amount,
                reason=data.draw(texts),
                expected=data.draw(
                    st.none() | st.sampled_from(guards).map(lambda m: major(m, currency))
                ),
                # Mostly keyed, and mostly from the pool: a later refund meets the key.
                key=self.draw_key(data, ("none", "pool", "pool", "fresh")),
            )
        )

    def make_refundable(self, data: st.DataObject, across: bool = False) -> None:
        """Mostly, when nothing is left to refund (`across`: across currencies), a customer
        first pays the whole balance of an open invoice (with its discount if open; from a
        wallet of another currency if `across`) from a wallet funded for it: most examples
        pay once at most, and a refund rule would seldom find anything to refund."""
        refundable = [m for m in self.made.values() if m.refundable]
        if across:
            refundable = [m for m in refundable if m.debit != m.amount]
        if refundable or not self.open_invoices() or data.draw(st.integers(0, 3)) == 0:
            return
        numbers = self.open_invoices()
        discountable = [n for n in numbers if self.invoices[n].discount_open(self.clock)]
        invoice_number = data.draw(st.sampled_from(discountable * 3 + numbers))
        invoice = self.invoices[invoice_number]
        discount = invoice.discount_open(self.clock) and data.draw(st.integers(0, 3)) > 0
        payable = invoice.balance_due - (invoice.discount() if discount else 0)
        currency, rate = invoice.currency, None
        if across:
            others = [c for c in CURRENCIES if c != invoice.currency]
            currency = data.draw(st.sampled_from(others))
            rate = data.draw(st.sampled_from(FUNDED_RATES))
        debit = wallet_debit(payable, invoice.currency, currency, rate or Decimal(1))
        if self.wallets.get((invoice.owner, currency), 0) < debit:
            self.top_up_wallet(invoice.owner, currency, debit)
        self.pay(
            Request(
                invoice.owner,
                invoice_number,
                invoice.currency,
                wallet_currency=None if rate is None else currency,
                rate=rate,
                discount=discount,
            )
        )

    @precondition(lambda self: self.made or self.open_invoices())
    @rule(data=st.data())
    def refund_part(self, data: st.DataObject) -> None:
        """Part of a payment across currencies (mostly), then perhaps the rest: the wallet
        credit of each part is rounded down, and the parts add up to the debit."""
        self.count("steps")
        self.make_refundable(data, across=True)
        left = [i for i, m in self.made.items() if m.refundable]
        across = [i for i in left if self.made[i].debit != self.made[i].amount]
        if not left:
            return
        payment_id = data.draw(st.sampled_from(across * 4 + left))
        made = self.made[payment_id]
        currency = self.invoices[made.number].currency
        for _ in range(data.draw(st.integers(1, 3))):
            minor = data.draw(st.integers(1, max(made.refundable, 1)))
            request = RefundRequest(payment_id, major(minor, currency), key=self.draw_key(data))
            self.refund_payment(request)

    @precondition(lambda self: self.refunds_sent)
    @rule(data=st.data())
    def refund_again(self, data: st.DataObject) -> None:
        """A refund with a key again: the same (its decimals perhaps written differently),
        or one parameter changed (mostly of a payment with something left to refund, where
        the change alone decides)."""
        self.count("steps")
        refundable = [
            r
            for r in self.refunds_sent
            if r.payment_id in self.made and self.made[r.payment_id].refundable
        ]
        request = data.draw(st.sampled_from(refundable * 3 + self.refunds_sent))
        made = self.made.get(request.payment_id)
        currency = "NGN" if made is None else self.invoices[made.number].currency
        one_minor = Decimal(1).scaleb(-EXPONENTS[currency])
        changes: list[dict[str, Any]] = [
            {},  # a replay
            {},
            {"amount": one_minor if request.amount != one_minor else 2 * one_minor},
            {"amount": None if request.amount is not None else one_minor},
            {"reason": (request.reason or "") + "!"},
            {"expected": None if request.expected is not None else one_minor},
            {"payment_id": data.draw(st.sampled_from([*self.made, MISSING_PAYMENT]))},
        ]
        change = data.draw(st.sampled_from(changes))
        if not change and request.amount is not None and data.draw(st.booleans()):
            change = {"amount": request.amount.quantize(Decimal("1E-6"))}
        self.refund_payment(dataclasses.replace(request, **change))

    # --- the model -----------------------------------------------------------------------

    def pay(self, request: Request) -> None:
        self.count("calls")
        command = PayInvoice(
            tenant_id=self.tenant,
            customer_id=self.customer_id(request.who),
            invoice_number=request.number,
            currency=request.currency,
            amount=request.amount,
            wallet_currency=request.wallet_currency,
            exchange_rate=request.rate,
            expected_balance_due=request.expected,
            apply_early_payment_discount=request.discount,
            reference=request.reference,
            memo=request.memo,
            accounting_code=request.accounting_code,
            idempotency_key=request.key,
        )
        outcome: Outcome = self.attempt(pay_invoice(self.env.db, command, now=self.clock))
        key = request.key
        if key is not None and request.who != GHOST:
            self.sent.append(request)

        # Check.USER_NOT_FOUND and Check.CURRENCY_NOT_FOUND come before any key is looked
        # at: they bind no key.
        if request.who == GHOST:
            self.expect(errors.UserNotFound(), outcome)
            return
        for code in (request.currency, request.wallet_currency or request.currency):
            if code not in EXPONENTS:
                self.expect(errors.CurrencyNotFound(currency=code), outcome)
                return

        record = None if key is None else self.keys.get((request.who, key))
        if record is not None and record.params == request.params():
            self.expect_replay(record.outcome, outcome)
            return
        expected = self.predict(request)
        if record is not None and isinstance(expected, Paid):
            # Check.IDEMPOTENCY_KEY_REUSED: every other check passed, but the key belongs to
            # other parameters.
            assert key is not None
            expected = errors.IdempotencyKeyReused(key=key)
        self.expect(expected, outcome)
        if isinstance(expected, Paid):
            assert isinstance(outcome, PaymentReceipt)
            self.settle(request, expected, outcome)
        if key is not None and record is None:
            self.keys[(request.who, key)] = KeyRecord(request.params(), outcome)

    def predict(self, request: Request) -> Expected:
        """Check.INVOICE_NOT_FOUND to Check.INSUFFICIENT_FUNDS on the model, in order."""
        invoice = self.invoices.get(request.number)
        if invoice is None:
            return errors.InvoiceNotFound(number=request.number)
        if invoice.owner != request.who:
            return errors.InvoiceOwnershipMismatch(number=request.number)
        if invoice.currency != request.currency:
            return errors.CurrencyMismatch(expected=invoice.currency, received=request.currency)
        if invoice.status == "PAID":
            return errors.InvoiceAlreadyPaid(number=request.number)
        if invoice.status == "VOID":
            return errors.InvoiceVoid(number=request.number)
        wallet_currency = request.wallet_currency or request.currency
        balance = self.wallets.get((request.who, wallet_currency))
        if balance is None:
            return errors.WalletNotFound(currency=wallet_currency)

        # Check.WRONG_AMOUNT: collect every reason the amount is wrong.
        reasons: set[str] = set()
        due = invoice.balance_due
        if request.expected is not None:
            expected_minor = exact_minor(request.expected, invoice.currency)
            if expected_minor is None:
                reasons.add("TOO_PRECISE")
            elif expected_minor != due:
                reasons.add("STALE_BALANCE_DUE")
        discount = 0
        if request.discount:
            if invoice.discount_open(self.clock):
                discount = invoice.discount()
            else:
                reasons.add("DISCOUNT_NOT_APPLICABLE")
        payable = due - discount
        amount: int | None = payable
        if request.amount is not None:
            amount = exact_minor(request.amount, invoice.currency)
            if amount is None:
                reasons.add("TOO_PRECISE")
        if amount is not None:
            if amount <= 0:
                reasons.add("NOT_POSITIVE")
            elif amount > payable:
                reasons.add("EXCEEDS_BALANCE_DUE")
            if discount and amount != payable:
                reasons.add("DISCOUNT_NOT_APPLICABLE")
        same_currency = wallet_currency == invoice.currency
        rate = request.rate
        # The same currency takes exactly 1 (or nothing); another takes a positive rate.
        rate_ok = (rate is None or rate == 1) if same_currency else (rate or 0) > 0
        if not rate_ok:
            reasons.add("INVALID_EXCHANGE_RATE")
        debit = 0
        if amount is not None and amount > 0 and rate_ok:
            debit = (
                amount
                if same_currency
                else wallet_debit(amount, invoice.currency, wallet_currency, rate or Decimal(1))
            )
            if debit > MAX_MINOR:
                reasons.add("TOO_LARGE")
        if reasons:
            return AnyWrongAmount(frozenset(reasons), invoice.currency, due)
        assert amount is not None

        if balance < debit:
            return errors.InsufficientFunds(
                currency=wallet_currency, balance=balance, required=debit
            )
        return Paid(amount=amount, discount=discount, debit=debit, rate=rate or Decimal(1))

    def expect(self, expected: Expected, outcome: Outcome, prefix: str = "") -> None:
        """`prefix` names the call in the counts ("refund ")."""
        if isinstance(expected, Paid | Refunded):
            success = PaymentReceipt if isinstance(expected, Paid) else RefundResult
            assert isinstance(outcome, success), (expected, outcome)
            assert outcome.replayed is False
            return
        assert isinstance(outcome, errors.DomainError), (expected, outcome)
        assert outcome.replayed is False, outcome
        if isinstance(expected, AnyWrongAmount):
            assert isinstance(outcome, errors.WrongAmount), (expected, outcome)
            assert outcome.reason in expected.reasons, (expected, outcome)
            assert (outcome.currency, outcome.balance_due) == (
                expected.currency,
                expected.balance_due,
            ), (expected, outcome)
            self.count(prefix + outcome.reason)
        else:
            assert outcome == expected, (expected, outcome)
        self.count(prefix + type(outcome).__name__)

    def expect_replay(self, first: Outcome, outcome: Outcome, prefix: str = "") -> None:
        """DESIGN: the first outcome again, marked replayed, and nothing moves (a refund
        replayed names what it did: its rows are not read again)."""
        if isinstance(first, PaymentReceipt):
            assert outcome == dataclasses.replace(first, replayed=True), (first, outcome)
            self.count("replayed success")
        elif isinstance(first, RefundResult):
            again = dataclasses.replace(first, replayed=True, rows=None)
            assert outcome == again, (first, outcome)
            self.count("refund replayed success")
        else:
            assert isinstance(outcome, errors.DomainError), (first, outcome)
            assert type(outcome) is type(first), (first, outcome)
            assert outcome == first, (first, outcome)
            assert outcome.replayed is True
            self.count(prefix + "replayed error")

    def settle(self, request: Request, paid: Paid, receipt: PaymentReceipt) -> None:
        invoice = self.invoices[request.number]
        wallet_currency = request.wallet_currency or request.currency
        invoice.amount_paid += paid.amount
        invoice.discount_applied += paid.discount
        invoice.status = "PAID" if invoice.balance_due == 0 else "PARTIALLY_PAID"
        self.wallets[(request.who, wallet_currency)] -= paid.debit
        self.wallet_entries += 1
        assert receipt == PaymentReceipt(
            payment_id=receipt.payment_id,
            invoice_id=receipt.invoice_id,
            wallet_id=receipt.wallet_id,
            invoice_number=request.number,
            currency=invoice.currency,
            invoice_total=invoice.total,
            amount_paid_now=paid.amount,
            balance_due=invoice.balance_due,
            status=invoice.status,
            wallet_currency=wallet_currency,
            wallet_balance=self.wallets[(request.who, wallet_currency)],
        ), (paid, receipt)
        self.payments[receipt.payment_id] = (
            request.number,
            paid.amount,
            wallet_currency,
            paid.debit,
            paid.rate,
            paid.discount,
            request.reference,
            request.memo,
            request.accounting_code,
            request.key,
        )
        self.made[receipt.payment_id] = ModelPayment(
            request.who, request.number, paid.amount, paid.debit, wallet_currency, paid.discount
        )
        self.count("paid")
        if any(m.number == request.number and m.refunded for m in self.made.values()):
            self.count("paid again after a refund")
        if wallet_currency != invoice.currency:
            self.count("paid across currencies")
        if paid.discount:
            self.count("paid with discount")

    def refund_payment(self, request: RefundRequest) -> None:
        self.count("calls")
        command = RefundPayment(
            tenant_id=self.tenant,
            payment_id=request.payment_id,
            amount=request.amount,
            reason=request.reason,
            expected_refundable=request.expected,
            idempotency_key=request.key,
        )
        outcome: Outcome = self.attempt(refund_payment(self.env.db, command, now=self.clock))
        key = request.key
        if key is not None:
            self.refunds_sent.append(request)
        # The admins' keys: nothing a customer's key of the same name did matters here.
        record = None if key is None else self.refund_keys.get(key)
        if record is not None and record.params == request.params():
            self.expect_replay(record.outcome, outcome, "refund ")
            return
        expected = self.predict_refund(request)
        if record is not None and isinstance(expected, Refunded):
            assert key is not None
            expected = errors.IdempotencyKeyReused(key=key)
        self.expect(expected, outcome, "refund ")
        if isinstance(expected, Refunded):
            assert isinstance(outcome, RefundResult)
            self.give_back(request, expected, outcome)
        if key is not None and record is None:
            self.refund_keys[key] = KeyRecord(request.params(), outcome)

    def predict_refund(self, request: RefundRequest) -> Expected:
        """DESIGN's order: the payment in the tenant, then the amount (more than the
        refundable; else not positive or too precise), then the guards (a stale
        `expectedRefundable`, part of a discounted payment), and the caller puts a reused
        key last. The order of reasons inside one WrongAmount is not part of the contract."""
        made = self.made.get(request.payment_id)
        if made is None:
            return errors.PaymentNotFound(payment_id=request.payment_id)
        invoice = self.invoices[made.number]
        currency = invoice.currency
        refundable = made.refundable
        exceeds = errors.RefundExceedsRefundable(currency=currency, refundable=refundable)
        if refundable <= 0:
            return exceeds
        amount: int | None = refundable
        reasons: set[str] = set()
        if request.amount is not None:
            if request.amount > major(refundable, currency):
                return exceeds
            amount = exact_minor(request.amount, currency)
            if request.amount <= 0:
                reasons.add("NOT_POSITIVE")
            if amount is None:
                reasons.add("TOO_PRECISE")
        if not reasons:
            if request.expected is not None and request.expected != major(refundable, currency):
                reasons.add("STALE_REFUNDABLE")
            if made.discount and amount != refundable:
                reasons.add("PARTIAL_REFUND_OF_DISCOUNTED_PAYMENT")
        if reasons:
            return AnyWrongAmount(frozenset(reasons), currency, invoice.balance_due)
        assert amount is not None
        # DESIGN: refunds totalling R of a payment of A that debited D credit floor(D*R/A).
        credited = made.debit * (made.refunded + amount) // made.amount
        return Refunded(amount=amount, credit=credited - made.credited)

    def give_back(self, request: RefundRequest, refunded: Refunded, result: RefundResult) -> None:
        made = self.made[request.payment_id]
        invoice = self.invoices[made.number]
        made.refunded += refunded.amount
        made.credited += refunded.credit
        invoice.amount_paid -= refunded.amount
        invoice.discount_applied -= made.discount  # only a whole refund has come this far
        invoice.status = "PARTIALLY_PAID" if invoice.amount_paid else "UNPAID"
        wallet = (made.who, made.wallet_currency)
        self.wallets[wallet] += refunded.credit
        self.wallet_entries += 1
        rows = result.rows
        assert rows is not None and result.payment_id == request.payment_id, result
        assert (
            rows.refund.amount,
            rows.refund.wallet_credit,
            rows.refund.discount,
            rows.wallet.balance,
            rows.invoice.amount_paid,
            rows.invoice.discount_applied,
            rows.invoice.status,
            sum(r.amount for r in rows.payment_refunds),
        ) == (
            refunded.amount,
            refunded.credit,
            made.discount,
            self.wallets[wallet],
            invoice.amount_paid,
            invoice.discount_applied,
            invoice.status,
            made.refunded,
        ), (refunded, result)
        self.refunds[result.refund_id] = (
            request.payment_id,
            refunded.amount,
            made.wallet_currency,
            refunded.credit,
            made.discount,
            request.reason,
            request.key,
        )
        self.count("refunded whole" if made.refundable == 0 else "refunded in part")
        if made.wallet_currency != invoice.currency:
            self.count("refunded across currencies")
        if made.debit * made.refunded % made.amount:
            self.count("refund credit rounded down")
        if made.discount:
            self.count("refunded with discount")

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def database_equals_model(self) -> None:
        """Every wallet balance, every invoice's amounts and status, every payment row, and
        the counts of wallet ledger entries and idempotency records."""
        summary, payment_rows, refund_rows = self.run(
            self.env.read(SUMMARY, PAYMENTS, REFUNDS, tenant=self.tenant)
        )
        wallets: dict[tuple[int, str], int] = {}
        invoices: dict[int, tuple[int, int, str]] = {}
        counts: dict[str, int] = {}
        ids = {customer: index for index, customer in enumerate(self.customers)}
        for kind, label, currency, *numbers in summary:
            if kind == "wallet":
                wallets[(ids[label], currency)] = numbers[0]
            elif kind == "invoice":
                invoices[numbers[0]] = (numbers[1], numbers[2], label)
            else:
                counts[kind] = numbers[0]
        assert wallets == self.wallets
        assert invoices == {
            number: (i.amount_paid, i.discount_applied, i.status)
            for number, i in self.invoices.items()
        }
        payments = {row[0]: (*row[1:5], Decimal(row[5]), *row[6:]) for row in payment_rows}
        assert payments == self.payments
        assert {row[0]: row[1:] for row in refund_rows} == self.refunds
        assert counts == {
            "wallet entries": self.wallet_entries,
            "idempotency records": len(self.keys) + len(self.refund_keys),
        }

    def teardown(self) -> None:
        if self.customers:
            assert self.run(verify_ledger(self.env.db)) == []


# The tenant's wallets and invoices, and its counts of wallet ledger entries (one per
# top-up, payment or refund) and idempotency records, in one statement; every part goes through
# an index, as the tables grow with every example.
SUMMARY = """
SELECT 'wallet', w.customer_id, w.currency, w.balance,
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)
FROM customers c JOIN wallets w ON w.customer_id = c.id WHERE c.tenant_id = :tenant
UNION ALL
SELECT 'invoice', status, CAST(NULL AS VARCHAR), number, amount_paid, discount_applied
FROM invoices WHERE tenant_id = :tenant
UNION ALL
SELECT 'wallet entries', NULL, NULL, COUNT(*), NULL, NULL
FROM customers c JOIN wallets w ON w.customer_id = c.id
JOIN ledger_entries e ON e.wallet_id = w.id WHERE c.tenant_id = :tenant
UNION ALL
SELECT 'idempotency records', NULL, NULL, COUNT(*), NULL, NULL
FROM idempotency_records WHERE tenant_id = :tenant
"""
PAYMENTS = """
SELECT p.id, i.number, p.amount, p.wallet_currency, p.wallet_debit, p.exchange_rate,
       p.discount, p.reference, p.memo, p.accounting_code, p.idempotency_key
FROM invoices i JOIN payments p ON p.invoice_id = i.id WHERE i.tenant_id = :tenant
"""
REFUNDS = """
SELECT r.id, r.payment_id, r.amount, r.wallet_currency, r.wallet_credit, r.discount, r.reason,
       r.idempotency_key
FROM invoices i JOIN refunds r ON r.invoice_id = i.id WHERE i.tenant_id = :tenant
"""


async def foreign_payment(db: Database) -> str:
    """A payment of 1.00 in a tenant of its own."""
    tenant = secrets.token_hex(12)
    customer = (await open_tenant(db, tenant))[0]
    await admin.top_up_wallet(db, tenant, customer, "NGN", Decimal(1))
    await admin.create_invoice(db, tenant, admin.NewInvoice(1, customer, "NGN", Decimal(1)))
    receipt = await pay_invoice(
        db, PayInvoice(tenant_id=tenant, customer_id=customer, invoice_number=1, currency="NGN")
    )
    return receipt.payment_id


async def open_tenant(db: Database, tenant_id: str) -> list[str]:
    """A tenant and its customers in one transaction (admin's services take one each, and
    this runs before every example); their ids."""
    customers = [
        Customer(id=new_id("cus"), tenant_id=tenant_id, name=f"C{i}", email=f"c{i}@example.com")
        for i in range(CUSTOMERS)
    ]
    async with UnitOfWork(db, write=True) as uow:
        uow.tenants.add(Tenant(id=tenant_id, name="Model tenant"))
        await uow.flush()  # customers refer to the tenant
        for customer in customers:
            uow.customers.add(customer)
        await uow.commit()
    return [customer.id for customer in customers]


def synchronous_commit_off(db: Database) -> None:
    """PostgreSQL commits of this test's connections do not wait for the WAL to reach disk:
    durability is not under test, and the fsync is a fifth of every write's time here.
    Locking and visibility are unchanged."""

    @event.listens_for(db.engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET synchronous_commit TO off")
        cursor.close()
        dbapi_connection.commit()  # else the first rollback would undo the SET


def bound_to(environment: Environment) -> type[PaymentModel]:
    class Machine(PaymentModel):
        env = environment

    return Machine


def test_payments_follow_the_model(database_url: str) -> None:
    """Given a fresh tenant per example, when Hypothesis runs its steps against the service,
    then every outcome is the one the model predicts and the database equals the model."""
    backend = database_url.split("+", 1)[0]
    started = time.monotonic()
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        db = Database(database_url, pool_size=2)
        if not db.is_sqlite:
            synchronous_commit_off(db)
        environment = Environment(
            runner,
            db,
            runner.run(db.engine.connect().start()),
            foreign_payment=runner.run(foreign_payment(db)),
        )
        try:
            run_state_machine_as_test(bound_to(environment), settings=SETTINGS)
        finally:
            runner.run(environment.reader.close())
            runner.run(db.dispose())
    counts = environment.counts
    errors_met = sum(counts[name] for name in errors.ERROR_TYPES)
    report(
        f"model-based payments ({backend})",
        f"{counts['examples']} examples, {counts['steps']} steps, {counts['calls']} service"
        f" calls: {counts['paid']} payments ({counts['paid across currencies']} across"
        f" currencies, {counts['paid with discount']} discounted),"
        f" {counts['replayed success'] + counts['replayed error']} replays;"
        f" {counts['refunded whole'] + counts['refunded in part']} refunds"
        f" ({counts['refunded in part']} partial, {counts['refunded across currencies']} across"
        f" currencies, {counts['refunded with discount']} discounted),"
        f" {counts['refund replayed success'] + counts['refund replayed error']} refund replays;"
        f" {errors_met} domain errors as predicted; {time.monotonic() - started:.0f} s",
    )
    missing = OUTCOMES_EVERY_RUN_REACHES - set(counts)
    assert not missing, f"the examples never reached {sorted(missing)}: {counts}"
