"""`pay_invoice` on PostgreSQL: one read, then one conditional write, no ORM.

1. READ fetches, in one statement without locks, everything the checks of DESIGN.md
   look at: the customer, the invoice by number, the paying wallet and the record of
   the idempotency key. The checks and the plan are `app.payments.service`' own.
2. WRITE is one statement: it locks the wallet (only if it still holds the debit) and
   then the invoice (only if the plan still holds for it: still open with the amount
   due, and exactly as read when the plan depended on more, see `_exact`), and only
   when both hold does it debit the wallet, settle the invoice, add the payment, its
   ledger entries and the key's record of the receipt. PostgreSQL runs the statement
   atomically in its own transaction, so the locks are held for that one round trip.

When WRITE changes nothing (another payment moved the invoice, or the wallet fell
below the debit) or the key was taken meanwhile (its record's primary key refuses the
second insert, which undoes the whole statement), the payment is decided again from a
fresh READ: it then pays, replays the key's outcome, or answers the error that is now
true (say `InsufficientFunds`). Each such retry follows another payment's commit on the
same rows, so retries always end; `MAX_ATTEMPTS` only bounds a pathological pile-up.

A refusal with an idempotency key is kept with `INSERT … ON CONFLICT DO NOTHING`: if
another request took the key first, its outcome is what this one replays.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from app import errors
from app.db.engine import Database
from app.db.models import Invoice, M, Payment, Wallet, as_loaded, new_id
from app.events import hub as events
from app.kit.deadline import committing
from app.kit.money import Currency, find_currency
from app.payments.service import (
    PayInvoice,
    Settlement,
    check_invoice,
    decide,
    error_outcome,
    payment_columns,
    receipt_of,
    replay,
    success_outcome,
)

MAX_ATTEMPTS = 200
IDEMPOTENCY_PKEY = "idempotency_records_pkey"

READ = """
SELECT c.id AS customer_id,
       i.id AS invoice_id, i.number, i.customer_id AS invoice_customer_id,
       i.currency AS invoice_currency, i.total, i.amount_paid, i.discount_applied,
       i.status, i.due_at, i.discount_percent, i.discount_until,
       i.created_at AS invoice_created_at,
       w.id AS wallet_id, w.currency AS wallet_currency, w.balance,
       w.created_at AS wallet_created_at,
       k.fingerprint, k.outcome
FROM (VALUES (1)) AS one (x)
LEFT JOIN customers c ON c.id = $2 AND c.tenant_id = $1
LEFT JOIN invoices i ON i.tenant_id = $1 AND i.number = $3
LEFT JOIN wallets w ON w.customer_id = c.id AND w.currency = $4
LEFT JOIN idempotency_records k ON k.tenant_id = $1 AND k.customer_id = $2 AND k.key = $5
"""

# $1 wallet, $2 debit, $3 invoice, $4-$6 the invoice as read (amount paid, discount,
# status), $7 whether the invoice must still be exactly as read (see `_exact`), $8 payment
# id, $9 tenant, $10 customer, $11 invoice currency, $12 amount, $13 wallet currency,
# $14 rate, $15 discount, $16 reference, $17 memo, $18 accounting code, $19 key, $20 now,
# $21 ledger transaction, $22 fingerprint, $23 the receipt to keep under the key (the
# wallet balance, balance due and status filled in from the rows written). Its events
# are notified once it has committed (app.events.hub `CommittedNotices`).
WRITE = """
WITH w AS (
    SELECT id FROM wallets WHERE id = $1 AND balance >= $2 FOR UPDATE
), i AS (
    SELECT id FROM invoices
    WHERE id = $3 AND status IN ('UNPAID', 'PARTIALLY_PAID')
      AND total - amount_paid - discount_applied >= $12::bigint + $15::bigint
      AND (NOT $7 OR (amount_paid = $4 AND discount_applied = $5 AND status = $6))
      AND EXISTS (SELECT FROM w)
    FOR UPDATE
), wallet AS (
    UPDATE wallets SET balance = wallets.balance - $2 FROM i
    WHERE wallets.id = $1
    RETURNING wallets.balance
), invoice AS (
    UPDATE invoices SET
        amount_paid = invoices.amount_paid + $12,
        discount_applied = invoices.discount_applied + $15,
        status = CASE WHEN invoices.total - invoices.amount_paid - invoices.discount_applied
                           = $12::bigint + $15::bigint
                      THEN 'PAID' ELSE 'PARTIALLY_PAID' END
    FROM i
    WHERE invoices.id = i.id
    RETURNING invoices.total, invoices.amount_paid, invoices.discount_applied, invoices.status
), payment AS (
    INSERT INTO payments (id, tenant_id, invoice_id, customer_id, wallet_id, currency,
        amount, wallet_currency, wallet_debit, exchange_rate, discount, reference, memo,
        accounting_code, idempotency_key, created_at)
    SELECT $8, $9, i.id, $10, $1, $11, $12, $13, $2, $14, $15, $16, $17, $18, $19, $20
    FROM i
    RETURNING id
), entries AS (
    INSERT INTO ledger_entries (tenant_id, transaction_id, kind, account, wallet_id,
        payment_id, currency, amount, balance_after, reference, created_at)
    SELECT $9, $21, 'PAYMENT', e.account, CASE WHEN e.own THEN $1 END, payment.id,
        e.currency, e.amount, CASE WHEN e.own THEN wallet.balance END, $16, $20
    FROM payment, wallet,
        (VALUES (1, true, 'wallet:' || $1, $13, -$2::bigint),
                (2, false, 'fx', $13, $2::bigint),
                (3, false, 'fx', $11, -$12::bigint),
                (4, false, 'settled', $11, $12::bigint))
            AS e (position, own, account, currency, amount)
    WHERE $11 <> $13 OR e.account <> 'fx'
    ORDER BY e.position
), kept AS (
    INSERT INTO idempotency_records (tenant_id, customer_id, key, fingerprint, outcome,
        created_at)
    SELECT $9, $10, $19, $22,
        jsonb_set(jsonb_set(jsonb_set($23::jsonb,
            '{ok,wallet_balance}', to_jsonb(wallet.balance)),
            '{ok,balance_due}',
            to_jsonb(invoice.total - invoice.amount_paid - invoice.discount_applied)),
            '{ok,status}', to_jsonb(invoice.status))::text,
        $20
    FROM wallet, invoice
    WHERE $19::text IS NOT NULL
)
SELECT wallet.balance, invoice.amount_paid, invoice.discount_applied, invoice.status
FROM wallet, invoice
"""

KEEP_REFUSAL = """
INSERT INTO idempotency_records (tenant_id, customer_id, key, fingerprint, outcome, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING true
"""


class Contended(Exception):
    """The payment lost `MAX_ATTEMPTS` races in a row (answered 503: retry later)."""

    sqlstate = "55P03"  # as a lock timeout: app.db.unavailable answers it 503


async def settle(db: Database, command: PayInvoice, now: datetime) -> Settlement:
    """`service.settle_invoice` on PostgreSQL (its caller checked the command's shape)."""
    pool = await db.pg_pool()
    async with pool.acquire() as conn:
        for _ in range(MAX_ATTEMPTS):
            settlement = await _attempt(db, conn, command, now)
            if settlement is not None:
                return settlement
    raise Contended(f"payment of invoice {command.invoice_number} lost {MAX_ATTEMPTS} races")


async def _attempt(
    db: Database, conn: asyncpg.Connection, command: PayInvoice, now: datetime
) -> Settlement | None:
    """Pay, replay or raise; None when the rows moved under us (decide again)."""
    key = command.idempotency_key
    invoice_currency = find_currency(command.currency)
    wallet_currency = find_currency(command.wallet_currency or command.currency)
    row = await db.pg_fetchrow(
        conn,
        READ,
        command.tenant_id,
        command.customer_id,
        command.invoice_number,
        wallet_currency.code if wallet_currency else None,
        key,
    )
    assert row is not None  # LEFT JOINs from one row
    if row["customer_id"] is None:
        raise errors.UserNotFound()
    # CurrencyNotFound, as require_currency raises it, after the customer.
    invoice_currency = invoice_currency or _unknown(command.currency)
    wallet_currency = wallet_currency or _unknown(command.wallet_currency or command.currency)
    fingerprint = None if key is None else command.fingerprint()
    held = row["fingerprint"]
    if held is not None and held == fingerprint:
        return Settlement(replay(row["outcome"]))
    invoice = _invoice(row, command)
    wallet = _wallet(row, command)
    try:
        check_invoice(invoice, command, command.customer_id, invoice_currency)
        assert invoice is not None
        plan = decide(
            command,
            invoice,
            wallet,
            invoice_currency,
            wallet_currency,
            now,
            reused=held,
        )
    except errors.DomainError as error:
        if key is not None and held is None:
            committing()  # one statement, committed as it runs (app.kit.deadline)
            kept = await db.pg_fetchrow(
                conn,
                KEEP_REFUSAL,
                command.tenant_id,
                command.customer_id,
                key,
                fingerprint,
                error_outcome(error),
                now,
            )
            if kept is None:
                return None  # the key was taken meanwhile: replay (or refuse) its outcome
        raise
    assert wallet is not None  # decide() refused a missing one
    payment_id = new_id("pay")
    # The receipt kept under the key: WRITE fills in its balance due, status and wallet
    # balance as it leaves them (they may differ from what READ saw).
    planned = receipt_of(payment_id, invoice, wallet, plan.amount)
    committing()  # WRITE commits as it runs: past here, no time limit cancels (app.kit.deadline)
    try:
        written = await db.pg_fetchrow(
            conn,
            WRITE,
            wallet.id,
            plan.debit,
            invoice.id,
            invoice.amount_paid,
            invoice.discount_applied,
            invoice.status,
            _exact(command),
            payment_id,
            command.tenant_id,
            command.customer_id,
            invoice.currency,
            plan.amount,
            wallet.currency,
            plan.exchange_rate,
            plan.discount,
            command.reference,
            command.memo,
            command.accounting_code,
            key,
            now,
            new_id("txn"),
            fingerprint,
            None if key is None else success_outcome(planned),
        )
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name != IDEMPOTENCY_PKEY:
            raise
        return None  # the key was taken meanwhile; nothing of this statement stands
    if written is None:
        return None
    events.committed_notices(db).add(_changed(command, payment_id, invoice.id, wallet.id))
    paid = _changed_row(
        invoice,
        amount_paid=written["amount_paid"],
        discount_applied=written["discount_applied"],
        status=written["status"],
    )
    debited = _changed_row(wallet, balance=written["balance"])
    receipt = receipt_of(payment_id, paid, debited, plan.amount)
    columns = payment_columns(payment_id, command, invoice, wallet, plan, now)
    return Settlement(receipt, lambda: (as_loaded(Payment, **columns), paid, debited))


def _exact(command: PayInvoice) -> bool:
    """Whether the plan holds only for the invoice exactly as read. A stated amount with
    no discount and no expected balance is decided by the balance due alone: it holds as
    long as the amount still fits, which WRITE checks under the lock, so payments racing
    on one invoice do not make each other decide again. A payment of the whole balance
    (no amount), a discount or a stated expected balance needs the invoice unchanged."""
    return (
        command.amount is None
        or command.apply_early_payment_discount
        or command.expected_balance_due is not None
    )


def _changed(
    command: PayInvoice, payment_id: str, invoice_id: str, wallet_id: str
) -> list[events.Event]:
    """The events of the payment, as `events.settled` names them."""
    owner = {"tenant_id": command.tenant_id, "customer_id": command.customer_id}
    return [
        events.Event(kind="payment", row_id=payment_id, **owner),
        events.Event(kind="invoice", row_id=invoice_id, **owner),
        events.Event(kind="wallet", row_id=wallet_id, **owner),
    ]


def _unknown(code: str) -> Currency:
    raise errors.CurrencyNotFound(currency=code[:16])


def _invoice(row: asyncpg.Record, command: PayInvoice) -> Invoice | None:
    if row["invoice_id"] is None:
        return None
    return as_loaded(
        Invoice,
        id=row["invoice_id"],
        tenant_id=command.tenant_id,
        number=row["number"],
        customer_id=row["invoice_customer_id"],
        currency=row["invoice_currency"],
        total=row["total"],
        amount_paid=row["amount_paid"],
        discount_applied=row["discount_applied"],
        status=row["status"],
        due_at=row["due_at"],
        discount_percent=row["discount_percent"],
        discount_until=row["discount_until"],
        created_at=row["invoice_created_at"],
    )


def _wallet(row: asyncpg.Record, command: PayInvoice) -> Wallet | None:
    if row["wallet_id"] is None:
        return None
    return as_loaded(
        Wallet,
        id=row["wallet_id"],
        tenant_id=command.tenant_id,
        customer_id=command.customer_id,
        currency=row["wallet_currency"],
        balance=row["balance"],
        created_at=row["wallet_created_at"],
    )


def _changed_row(row: M, **changes: Any) -> M:
    """`row` as WRITE left it: a new row, the one READ gave stays as it was."""
    columns = {name: value for name, value in vars(row).items() if not name.startswith("_")}
    return as_loaded(type(row), **{**columns, **changes})
