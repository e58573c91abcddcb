"""What an event's `data` holds: the objects a change left, as the GraphQL API shows them
(camelCase fields, ids, amounts as `{"amount": "<decimal string>", "currency": …}`,
times as ISO 8601 UTC). Defined once, for the ORM changes and for the payment hot path,
whose values computed in SQL are filled into `payment_succeeded`'s result at the
`SETTLED` paths (app/payments/pg_store.py).

One function per event type (`outbox.EVENT_TYPES`); `refund.succeeded` (a refund: the
refund, the invoice and the wallet as it left them) is to be added here beside
`payment_succeeded`, built from `payment`, `invoice` and `wallet` below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.db.models import Customer, Invoice, Payment, Refund, Wallet
from app.kit.money import find_currency, to_decimal

Json = dict[str, Any]


def money(minor: int, currency: str) -> Json:
    known = find_currency(currency)
    assert known is not None, currency  # stored rows hold known currencies only
    return {"amount": str(to_decimal(minor, known)), "currency": currency}


def time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    ).isoformat()


def customer(row: Customer) -> Json:
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "status": row.status,
        "createdAt": time(row.created_at),
    }


def invoice(row: Invoice) -> Json:
    terms = None
    if row.discount_percent is not None and row.discount_until is not None:
        terms = {"percent": row.discount_percent, "until": time(row.discount_until)}
    return {
        "id": row.id,
        "number": row.number,
        "customerId": row.customer_id,
        "status": row.status,
        "currency": row.currency,
        "total": money(row.total, row.currency),
        "amountPaid": money(row.amount_paid, row.currency),
        "discountApplied": money(row.discount_applied, row.currency),
        "balanceDue": money(row.balance_due, row.currency),
        "dueAt": time(row.due_at),
        "earlyPaymentDiscount": terms,
        "createdAt": time(row.created_at),
    }


def wallet(row: Wallet) -> Json:
    return {
        "id": row.id,
        "customerId": row.customer_id,
        "currency": row.currency,
        "balance": money(row.balance, row.currency),
        "createdAt": time(row.created_at),
    }


def payment(row: Payment) -> Json:
    return {
        "id": row.id,
        "invoiceId": row.invoice_id,
        "customerId": row.customer_id,
        "walletId": row.wallet_id,
        "amount": money(row.amount, row.currency),
        "walletDebit": money(row.wallet_debit, row.wallet_currency),
        "exchangeRate": row.exchange_rate,
        "discount": money(row.discount, row.currency),
        "reference": row.reference,
        "memo": row.memo,
        "accountingCode": row.accounting_code,
        "idempotencyKey": row.idempotency_key,
        "createdAt": time(row.created_at),
    }


def refund(row: Refund) -> Json:
    return {
        "id": row.id,
        "paymentId": row.payment_id,
        "invoiceId": row.invoice_id,
        "customerId": row.customer_id,
        "walletId": row.wallet_id,
        "amount": money(row.amount, row.currency),
        "walletCredit": money(row.wallet_credit, row.wallet_currency),
        "discount": money(row.discount, row.currency),
        "reason": row.reason,
        "createdAt": time(row.created_at),
    }


def customer_created(row: Customer) -> Json:
    return {"customer": customer(row)}


def invoice_changed(row: Invoice) -> Json:
    """`invoice.created` and `invoice.voided`."""
    return {"invoice": invoice(row)}


def wallet_topped_up(row: Wallet, amount: int) -> Json:
    return {"wallet": wallet(row), "amount": money(amount, row.currency)}


def payment_succeeded(paid: Payment, settled: Invoice, debited: Wallet) -> Json:
    return {"payment": payment(paid), "invoice": invoice(settled), "wallet": wallet(debited)}


def refund_succeeded(given: Refund, paid: Payment, settled: Invoice, credited: Wallet) -> Json:
    return {
        "refund": refund(given),
        "payment": payment(paid),
        "invoice": invoice(settled),
        "wallet": wallet(credited),
    }


# The values of `payment_succeeded` that only the payment's own statement knows (it
# decides them under its locks): where each lies in the data, by what it is.
SETTLED: dict[str, tuple[str, ...]] = {
    "amount_paid": ("invoice", "amountPaid", "amount"),
    "discount_applied": ("invoice", "discountApplied", "amount"),
    "balance_due": ("invoice", "balanceDue", "amount"),
    "status": ("invoice", "status"),
    "balance": ("wallet", "balance", "amount"),
}
