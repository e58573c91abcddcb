"""`refund_payment`: the one service behind the `refundPayment` mutation and
`invoicepay refund`.

One unit of work on both backends. On PostgreSQL it locks, in the order every writer of
money keeps (DESIGN.md), the wallet the payment debited, then its invoice, then the
payment, so racing refunds and payments queue instead of deadlocking; on SQLite the unit of
work holds the database write lock from BEGIN. Idempotency keys are those of payments
(`IdempotencyRepository`), owned by the tenant's admins (`command.ADMIN_KEY_OWNER`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import errors
from app.db.engine import Database
from app.db.models import Invoice, Payment, Refund, Wallet, new_id, utcnow
from app.db.uow import UnitOfWork
from app.events import shapes
from app.events.outbox import record
from app.ledger.entries import refund_entries
from app.refunds.command import ADMIN_KEY_OWNER, RefundPayment
from app.refunds.rules import RefundPlan, decide


@dataclass(frozen=True)
class RefundRows:
    """The rows as the refund's own transaction committed them (answers show them without
    reading again), with the refunds of the payment and of its invoice, the new one too."""

    refund: Refund
    payment: Payment
    invoice: Invoice
    wallet: Wallet
    payment_refunds: list[Refund]
    invoice_refunds: list[Refund]


@dataclass(frozen=True)
class RefundResult:
    """What a refund did: ids, `replayed` when an idempotency key answered it again (then
    `rows` is None: nothing was written)."""

    refund_id: str
    payment_id: str
    invoice_id: str
    wallet_id: str
    replayed: bool = False
    rows: RefundRows | None = None


async def refund_payment(
    db: Database, command: RefundPayment, *, now: datetime | None = None
) -> RefundResult:
    """Refund all or part of a payment into the wallet that paid it. Raises a `DomainError`
    (rules.py has the order) and then writes nothing but the idempotency record of that
    outcome."""
    command.check_shape()
    now = now or utcnow()
    key = command.idempotency_key
    fingerprint = command.fingerprint()
    async with UnitOfWork(db, write=True) as uow:
        held = None
        if key is not None:
            held = await uow.idempotency.claim(command.tenant_id, ADMIN_KEY_OWNER, key, fingerprint)
            if held is not None and held.fingerprint == fingerprint:
                assert held.outcome is not None  # kept in the transaction that claimed it
                return replay(held.outcome)
        try:
            rows = await _refund(uow, command, now, reused=held)
        except errors.DomainError as error:
            if key is not None and held is None:
                outcome = json.dumps({"error": error.to_data()})
                await uow.idempotency.save_outcome(command.tenant_id, ADMIN_KEY_OWNER, key, outcome)
                await uow.commit()
            raise
        result = RefundResult(
            refund_id=rows.refund.id,
            payment_id=rows.payment.id,
            invoice_id=rows.invoice.id,
            wallet_id=rows.wallet.id,
            rows=rows,
        )
        if key is not None:
            await uow.idempotency.save_outcome(
                command.tenant_id, ADMIN_KEY_OWNER, key, success_outcome(result)
            )
        # The outbox: announced if and only if this commits (subscriptions of the invoice,
        # the wallet and the admins' payments, webhooks of `refund.succeeded`).
        data = shapes.refund_succeeded(rows.refund, rows.payment, rows.invoice, rows.wallet)
        await record(uow.session, command.tenant_id, "refund.succeeded", data, now)
        await uow.commit()
        return result


def success_outcome(result: RefundResult) -> str:
    """What an idempotency key keeps of a refund: the ids it touched."""
    ids = {
        "refund_id": result.refund_id,
        "payment_id": result.payment_id,
        "invoice_id": result.invoice_id,
        "wallet_id": result.wallet_id,
    }
    return json.dumps({"ok": ids})


def replay(outcome: str) -> RefundResult:
    """The kept outcome again, marked replayed: the ids, or its error raised."""
    data: dict[str, Any] = json.loads(outcome)
    if "error" in data:
        error = errors.DomainError.from_data(data["error"])
        error.replayed = True
        raise error
    return RefundResult(**data["ok"], replayed=True)


async def _refund(
    uow: UnitOfWork, command: RefundPayment, now: datetime, *, reused: object | None
) -> RefundRows:
    found = await uow.payments.get(command.payment_id)
    if found is None or found.tenant_id != command.tenant_id:
        # Another tenant's payment is answered exactly as a missing one.
        raise errors.PaymentNotFound(payment_id=command.payment_id)
    wallet = await uow.wallets.get_by_id_for_update(found.wallet_id)
    invoice = await uow.invoices.get_for_update(found.invoice_id)
    payment = await uow.payments.get_for_update(found.id)
    earlier = list(await uow.refunds.for_payments([payment.id]))
    plan = decide(command, payment, invoice, sum(r.amount for r in earlier), reused=reused)
    refund = _apply(uow, command, payment, invoice, wallet, plan, now)
    await uow.flush()  # the refund row first: ledger entries refer to it
    uow.ledger.add_entries(refund_entries(refund, wallet, now))
    await uow.flush()
    invoice_refunds = list(await uow.refunds.for_invoices([invoice.id]))
    return RefundRows(refund, payment, invoice, wallet, [*earlier, refund], invoice_refunds)


def _apply(
    uow: UnitOfWork,
    command: RefundPayment,
    payment: Payment,
    invoice: Invoice,
    wallet: Wallet,
    plan: RefundPlan,
    now: datetime,
) -> Refund:
    wallet.balance += plan.wallet_credit
    invoice.amount_paid -= plan.amount
    invoice.discount_applied -= plan.discount
    if invoice.balance_due == 0:
        invoice.status = "PAID"
    elif invoice.amount_paid or invoice.discount_applied:
        invoice.status = "PARTIALLY_PAID"
    else:
        invoice.status = "UNPAID"  # can be paid again, or voided
    refund = Refund(
        id=new_id("ref"),
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        invoice_id=invoice.id,
        customer_id=payment.customer_id,
        wallet_id=wallet.id,
        currency=payment.currency,
        amount=plan.amount,
        wallet_currency=wallet.currency,
        wallet_credit=plan.wallet_credit,
        discount=plan.discount,
        reason=command.reason,
        idempotency_key=command.idempotency_key,
        created_at=now,
    )
    uow.refunds.add(refund)
    uow.wallets.add(wallet)
    uow.invoices.add(invoice)
    return refund
