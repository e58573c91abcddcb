"""The rules of a payment, pure (no database): the checks in their order, the plan they
leave (what to debit and settle), the status a payment leaves and the payment's row.
Both stores (`sqlite_store`, `pg_store`) write what these decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from app import errors
from app.db.models import Invoice, Wallet
from app.kit.money import MAX_MINOR, AmountError, Currency, convert_up, percent_of_down, to_minor
from app.payments.command import PayInvoice

MAX_RATE = Decimal(10) ** 9
RATE_PLACES = 12
PAID = "PAID"
PARTIALLY_PAID = "PARTIALLY_PAID"


class Check(IntEnum):
    """The checks of a payment in the contract's order: the first that fails decides the
    answer. The first four run at the edges (app.http, app.api), the rest in app.payments."""

    UNAUTHENTICATED = 1
    FORBIDDEN = 2
    RATE_LIMITED = 3
    INVALID_REQUEST = 4
    USER_NOT_FOUND = 5
    CURRENCY_NOT_FOUND = 6
    INVOICE_NOT_FOUND = 7
    INVOICE_OWNERSHIP_MISMATCH = 8
    CURRENCY_MISMATCH = 9
    INVOICE_ALREADY_PAID = 10  # or void
    WALLET_NOT_FOUND = 11
    WRONG_AMOUNT = 12
    INSUFFICIENT_FUNDS = 13
    IDEMPOTENCY_KEY_REUSED = 14

    @classmethod
    def of(cls, error: errors.DomainError) -> Check:
        """The check a payment's domain error answers (a void invoice fails the paid one)."""
        return cls["INVOICE_ALREADY_PAID" if error.code == "INVOICE_VOID" else error.code]


@dataclass(frozen=True)
class Plan:
    amount: int
    discount: int
    debit: int
    rate: Decimal

    @property
    def exchange_rate(self) -> str:
        """The rate as the payment row keeps it: plain digits, no exponent."""
        return format(self.rate.normalize(), "f")


def status_after(settled_in_full: bool) -> str:
    """The status a payment leaves its invoice in: whether it left nothing due decides."""
    return PAID if settled_in_full else PARTIALLY_PAID


def check_invoice(
    invoice: Invoice | None,
    command: PayInvoice,
    customer_id: str,
    invoice_currency: Currency,
) -> None:
    """Check.INVOICE_NOT_FOUND to Check.INVOICE_ALREADY_PAID: the invoice exists, is the
    caller's, is in the currency named and is still open."""
    if invoice is None:
        raise errors.InvoiceNotFound(number=command.invoice_number)
    if invoice.customer_id != customer_id:
        raise errors.InvoiceOwnershipMismatch(number=invoice.number)
    if invoice.currency != invoice_currency.code:
        raise errors.CurrencyMismatch(expected=invoice.currency, received=invoice_currency.code)
    _check_open(invoice)


def decide(
    command: PayInvoice,
    invoice: Invoice,
    wallet: Wallet | None,
    invoice_currency: Currency,
    wallet_currency: Currency,
    now: datetime,
    *,
    reused: object | None,
) -> Plan:
    """Check.WALLET_NOT_FOUND to Check.IDEMPOTENCY_KEY_REUSED, on the invoice that passed
    `check_invoice` and the paying wallet: what to debit and settle, or the `DomainError`
    to answer. `reused` is the record of a key held by other parameters."""
    if wallet is None:
        raise errors.WalletNotFound(currency=wallet_currency.code)
    _check_open(invoice)  # again: a store may hand the invoice as it is now
    plan = _plan(invoice, command, invoice_currency, wallet_currency, now)
    if wallet.balance < plan.debit:
        raise errors.InsufficientFunds(
            currency=wallet.currency, balance=wallet.balance, required=plan.debit
        )
    if reused is not None:
        raise errors.IdempotencyKeyReused(key=command.idempotency_key or "")
    return plan


def payment_columns(
    payment_id: str,
    command: PayInvoice,
    invoice: Invoice,
    wallet: Wallet,
    plan: Plan,
    now: datetime,
) -> dict[str, Any]:
    """Every column of the payment row `plan` makes, paying `invoice` from `wallet`."""
    return {
        "id": payment_id,
        "tenant_id": invoice.tenant_id,
        "invoice_id": invoice.id,
        "customer_id": invoice.customer_id,
        "wallet_id": wallet.id,
        "currency": invoice.currency,
        "amount": plan.amount,
        "wallet_currency": wallet.currency,
        "wallet_debit": plan.debit,
        "exchange_rate": plan.exchange_rate,
        "discount": plan.discount,
        "reference": command.reference,
        "memo": command.memo,
        "accounting_code": command.accounting_code,
        "idempotency_key": command.idempotency_key,
        "created_at": now,
    }


def _check_open(invoice: Invoice) -> None:
    if invoice.status == PAID:
        raise errors.InvoiceAlreadyPaid(number=invoice.number)
    if invoice.status == "VOID":
        raise errors.InvoiceVoid(number=invoice.number)


def _plan(
    invoice: Invoice,
    command: PayInvoice,
    invoice_currency: Currency,
    wallet_currency: Currency,
    now: datetime,
) -> Plan:
    balance_due = invoice.balance_due

    def wrong(reason: str) -> errors.WrongAmount:
        return errors.WrongAmount(reason=reason, currency=invoice.currency, balance_due=balance_due)

    def minor(value: Decimal) -> int:
        try:
            return to_minor(value, invoice_currency)
        except AmountError as error:
            raise wrong("TOO_PRECISE" if error.reason == "TOO_PRECISE" else "TOO_LARGE") from None

    expected = command.expected_balance_due
    if expected is not None and minor(expected) != balance_due:
        raise wrong("STALE_BALANCE_DUE")
    discount = 0
    if command.apply_early_payment_discount:
        if not _discount_open(invoice, now):
            raise wrong("DISCOUNT_NOT_APPLICABLE")
        discount = percent_of_down(invoice.total, Decimal(invoice.discount_percent or "0"))
    payable = balance_due - discount
    amount = payable if command.amount is None else minor(command.amount)
    if amount <= 0:
        raise wrong("NOT_POSITIVE")
    if amount > payable:
        raise wrong("EXCEEDS_BALANCE_DUE")
    if discount and amount != payable:
        # The discount is only for a payment that settles the whole discounted balance.
        raise wrong("DISCOUNT_NOT_APPLICABLE")
    rate = _rate(command.exchange_rate, invoice_currency, wallet_currency)
    if rate is None:
        raise wrong("INVALID_EXCHANGE_RATE")
    debit = convert_up(amount, invoice_currency, wallet_currency, rate)
    if debit > MAX_MINOR:
        raise wrong("TOO_LARGE")
    return Plan(amount=amount, discount=discount, debit=debit, rate=rate)


def _discount_open(invoice: Invoice, now: datetime) -> bool:
    return (
        invoice.discount_percent is not None
        and invoice.discount_until is not None
        and now <= invoice.discount_until
        and invoice.amount_paid == 0
        and invoice.discount_applied == 0
    )


def _rate(rate: Decimal | None, source: Currency, target: Currency) -> Decimal | None:
    """The valid rate to use, or None when `rate` is not acceptable."""
    if source == target:
        return Decimal(1) if rate is None or rate == 1 else None
    if rate is None or not rate.is_finite() or rate <= 0 or rate > MAX_RATE:
        return None
    exponent = rate.normalize().as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -RATE_PLACES:
        return None
    return rate
