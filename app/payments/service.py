"""`pay_invoice`: the one service behind the `payInvoice` mutation and the REST route."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from app import errors
from app.db.engine import Database
from app.db.models import Invoice, Payment, Wallet, new_id, utcnow
from app.db.uow import UnitOfWork
from app.events.hub import publish, settled
from app.kit.money import (
    MAX_MINOR,
    AmountError,
    Currency,
    convert_up,
    percent_of_down,
    require_currency,
    to_minor,
)
from app.ledger.entries import payment_entries

MAX_RATE = Decimal(10) ** 9
RATE_PLACES = 12


@dataclass(frozen=True)
class PayInvoice:
    """A request to pay; amounts are the caller's `Decimal`s, not yet validated."""

    tenant_id: str
    customer_id: str
    invoice_number: int
    currency: str
    amount: Decimal | None = None
    wallet_currency: str | None = None
    exchange_rate: Decimal | None = None
    expected_balance_due: Decimal | None = None
    apply_early_payment_discount: bool = False
    reference: str | None = None
    memo: str | None = None
    accounting_code: str | None = None
    idempotency_key: str | None = None

    def check_shape(self) -> None:
        """Raise InvalidRequest for text fields no real request has (check 4)."""
        limits = {
            "idempotencyKey": (self.idempotency_key, 200),
            "reference": (self.reference, 200),
            "memo": (self.memo, 1000),
            "accountingCode": (self.accounting_code, 100),
            "currency": (self.currency, 16),
            "walletCurrency": (self.wallet_currency, 16),
        }
        for name, (value, limit) in limits.items():
            if value is not None and len(value) > limit:
                raise errors.InvalidRequest(name, "TOO_LONG")
        if self.idempotency_key is not None and not self.idempotency_key.strip():
            raise errors.InvalidRequest("idempotencyKey", "EMPTY")

    def fingerprint(self) -> str:
        """Hash of every parameter that decides the outcome (not the key itself)."""

        def norm(value: Decimal | None) -> str | None:
            return None if value is None else str(value.normalize()) if value.is_finite() else "x"

        data = [
            self.invoice_number,
            self.currency,
            norm(self.amount),
            self.wallet_currency or self.currency,
            norm(self.exchange_rate),
            norm(self.expected_balance_due),
            self.apply_early_payment_discount,
            self.reference,
            self.memo,
            self.accounting_code,
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()


@dataclass(frozen=True)
class PaymentReceipt:
    """What a payment did, as it was right after it: amounts in minor units."""

    payment_id: str
    invoice_id: str
    wallet_id: str
    invoice_number: int
    currency: str
    invoice_total: int
    amount_paid_now: int
    balance_due: int
    status: str
    wallet_currency: str
    wallet_balance: int
    replayed: bool = False


def receipt_of(payment_id: str, invoice: Invoice, wallet: Wallet, amount: int) -> PaymentReceipt:
    """The receipt of a payment of `amount`, with the invoice and wallet as it left them."""
    return PaymentReceipt(
        payment_id=payment_id,
        invoice_id=invoice.id,
        wallet_id=wallet.id,
        invoice_number=invoice.number,
        currency=invoice.currency,
        invoice_total=invoice.total,
        amount_paid_now=amount,
        balance_due=invoice.balance_due,
        status=invoice.status,
        wallet_currency=wallet.currency,
        wallet_balance=wallet.balance,
    )


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


@dataclass(frozen=True)
class Settlement:
    """A payment's receipt and its rows as its own transaction committed them, so an
    answer can be built without reading again after the commit (a read that could fail
    and make a committed payment look failed). `rows` is None on a replay; the rows are
    made only when asked for (the REST answer needs the receipt alone)."""

    receipt: PaymentReceipt
    made: Callable[[], tuple[Payment, Invoice, Wallet]] | None = None

    @property
    def rows(self) -> tuple[Payment, Invoice, Wallet] | None:
        return None if self.made is None else self.made()


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


async def pay_invoice(
    db: Database, command: PayInvoice, *, now: datetime | None = None
) -> PaymentReceipt:
    """Pay an invoice from a wallet. Raises a `DomainError` (after the checks of DESIGN.md,
    in order) and then writes nothing but the idempotency record of that outcome."""
    return (await settle_invoice(db, command, now=now)).receipt


async def settle_invoice(
    db: Database, command: PayInvoice, *, now: datetime | None = None
) -> Settlement:
    """`pay_invoice`, also giving the committed rows (for answers that show them).

    On PostgreSQL it runs on the hot path of `app.payments.pg` (one read, one conditional
    write); on SQLite here, through the ORM, inside one write-locked transaction."""
    command.check_shape()
    now = now or utcnow()
    if not db.is_sqlite:
        from app.payments import pg as pay_pg  # it builds on this module

        return await pay_pg.settle(db, command, now)
    key = command.idempotency_key
    async with UnitOfWork(db, write=True) as uow:
        customer = await uow.customers.get(command.tenant_id, command.customer_id)
        if customer is None:
            raise errors.UserNotFound()
        invoice_currency = require_currency(command.currency)
        wallet_currency = require_currency(command.wallet_currency or command.currency)
        held = None
        if key is not None:
            held = await uow.idempotency.claim(
                customer.tenant_id, customer.id, key, command.fingerprint()
            )
            if held is not None and held.fingerprint == command.fingerprint():
                assert held.outcome is not None
                return Settlement(replay(held.outcome))
        try:
            invoice = await uow.invoices.get_by_number(customer.tenant_id, command.invoice_number)
            check_invoice(invoice, command, customer.id, invoice_currency)
            assert invoice is not None
            wallet = await uow.wallets.get_for_update(customer.id, wallet_currency.code)
            invoice = await uow.invoices.get_for_update(invoice.id)
            plan = decide(
                command, invoice, wallet, invoice_currency, wallet_currency, now, reused=held
            )
            assert wallet is not None
            settlement = await _apply(uow, command, invoice, wallet, plan, now)
        except errors.DomainError as error:
            if key is not None and held is None:
                await uow.idempotency.save_outcome(
                    customer.tenant_id, customer.id, key, error_outcome(error)
                )
                await uow.commit()
            raise
        if key is not None:
            outcome = success_outcome(settlement.receipt)
            await uow.idempotency.save_outcome(customer.tenant_id, customer.id, key, outcome)
        await publish(uow, settled(settlement))  # delivered only if this commit succeeds
        await uow.commit()
        return settlement


def success_outcome(receipt: PaymentReceipt) -> str:
    """What an idempotency key keeps of a payment: its receipt."""
    return json.dumps({"ok": dict(vars(receipt))})


def error_outcome(error: errors.DomainError) -> str:
    """What an idempotency key keeps of a refusal: the error and its data."""
    return json.dumps({"error": error.to_data()})


def replay(outcome: str) -> PaymentReceipt:
    """The kept outcome again, marked replayed: the receipt, or its error raised."""
    data: dict[str, Any] = json.loads(outcome)
    if "error" in data:
        error = errors.DomainError.from_data(data["error"])
        error.replayed = True
        raise error
    return PaymentReceipt(**{**data["ok"], "replayed": True})


def _check_open(invoice: Invoice) -> None:
    if invoice.status == "PAID":
        raise errors.InvoiceAlreadyPaid(number=invoice.number)
    if invoice.status == "VOID":
        raise errors.InvoiceVoid(number=invoice.number)


def check_invoice(
    invoice: Invoice | None,
    command: PayInvoice,
    customer_id: str,
    invoice_currency: Currency,
) -> None:
    """Checks 6 to 10 of DESIGN.md: the invoice exists, is the caller's, is in the
    currency named and is still open."""
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
    """The remaining checks, in DESIGN.md's order, on the invoice that passed
    `check_invoice` (as it is now, locked or about to be written conditionally) and the
    paying wallet: what to debit and settle, or the `DomainError` to answer."""
    if wallet is None:
        raise errors.WalletNotFound(currency=wallet_currency.code)
    _check_open(invoice)  # again: the invoice may have been read before its lock
    plan = _plan(invoice, command, invoice_currency, wallet_currency, now)
    if wallet.balance < plan.debit:
        raise errors.InsufficientFunds(
            currency=wallet.currency, balance=wallet.balance, required=plan.debit
        )
    if reused is not None:
        raise errors.IdempotencyKeyReused(key=command.idempotency_key or "")
    return plan


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


async def _apply(
    uow: UnitOfWork,
    command: PayInvoice,
    invoice: Invoice,
    wallet: Wallet,
    plan: Plan,
    now: datetime,
) -> Settlement:
    wallet.balance -= plan.debit
    invoice.amount_paid += plan.amount
    invoice.discount_applied += plan.discount
    invoice.status = "PAID" if invoice.balance_due == 0 else "PARTIALLY_PAID"
    payment = Payment(**payment_columns(new_id("pay"), command, invoice, wallet, plan, now))
    uow.payments.add(payment)
    uow.wallets.add(wallet)
    uow.invoices.add(invoice)
    await uow.flush()  # the payment row first: ledger entries refer to it
    uow.ledger.add_entries(payment_entries(payment, wallet, now))
    await uow.flush()
    receipt = receipt_of(payment.id, invoice, wallet, plan.amount)
    return Settlement(receipt, lambda: (payment, invoice, wallet))
