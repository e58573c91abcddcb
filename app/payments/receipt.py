"""What a payment answers: its receipt, the rows it committed, and the outcome an
idempotency key keeps of it (replayed as it was)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app import errors
from app.db.models import Invoice, Payment, Wallet


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
