"""`PaymentStore` on PostgreSQL, the hot path: one READ, then one conditional WRITE, no ORM.

1. READ fetches, in one statement without locks, everything the checks look at: the
   customer, the invoice by number, the paying wallet, the record of the idempotency
   key and, when the edge did not read it for this request, the session.
2. WRITE is one statement: it locks the wallet (only if it still holds the debit) and
   then the invoice (only if the plan still holds for it: still open with the amount
   due, and exactly as read when the plan depended on more, see `_exact`), and only
   when both hold does it debit the wallet, settle the invoice, add the payment, its
   ledger entries, the key's record of the receipt, and its `payment.succeeded` event
   with one webhook delivery per endpoint that takes it (the transactional outbox,
   app.events.outbox). PostgreSQL runs the statement
   atomically in its own transaction, so the locks are held for that one round trip.

WRITE restates no rule. The ledger legs are `app.ledger.entries.payment_legs`, passed
as arrays. The invoice's status is `rules.status_after`, its two answers written into
the statement (`STATUS_AFTER`): which one applies (did this payment leave nothing due?)
is known only under the lock, since a stated amount may pay an invoice that moved
since READ; deciding it there keeps the write one statement and race-free.

When WRITE changes nothing (another payment moved the invoice, or the wallet fell
below the debit) or the key was taken meanwhile (its record's primary key refuses the
second insert, which undoes the whole statement), `write` answers "moved" (None) and
the service decides again from a fresh READ. A refusal with an idempotency key is kept
with `INSERT … ON CONFLICT DO NOTHING`: if another request took the key first, its
outcome is what the next READ replays.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

import asyncpg
from asyncpg.pool import PoolAcquireContext

from app.auth.tokens import session_ended
from app.db.engine import Database
from app.db.models import CUSTOMER_SUSPENDED, Invoice, M, Payment, Wallet, as_loaded, new_id
from app.events import shapes
from app.events.hub import committed_notices
from app.events.outbox import encode, fan_out
from app.kit.deadline import committing
from app.kit.money import require_currency
from app.ledger.entries import payment_legs
from app.payments.command import PayInvoice
from app.payments.receipt import Settlement, receipt_of, success_outcome
from app.payments.rules import payment_columns, status_after
from app.payments.store import Snapshot, Write
from app.payments.wallet_turns import turns

IDEMPOTENCY_PKEY = "idempotency_records_pkey"

READ = """
SELECT c.id AS customer_id,
       i.id AS invoice_id, i.number, i.customer_id AS invoice_customer_id,
       i.currency AS invoice_currency, i.total, i.amount_paid, i.discount_applied,
       i.status, i.due_at, i.discount_percent, i.discount_until,
       i.created_at AS invoice_created_at,
       w.id AS wallet_id, w.currency AS wallet_currency, w.balance,
       w.created_at AS wallet_created_at,
       k.fingerprint, k.outcome,
       c.status AS customer_status, s.jti AS session_jti, s.revoked_at AS session_revoked_at,
       s.expires_at AS session_expires_at
FROM (VALUES (1)) AS one (x)
LEFT JOIN customers c ON c.id = $2 AND c.tenant_id = $1
LEFT JOIN sessions s ON s.jti = $6
LEFT JOIN invoices i ON i.tenant_id = $1 AND i.number = $3
LEFT JOIN wallets w ON w.customer_id = c.id AND w.currency = $4
LEFT JOIN idempotency_records k ON k.tenant_id = $1 AND k.customer_id = $2 AND k.key = $5
"""

# `rules.status_after` as SQL: which answer applies is known only under the lock.
STATUS_AFTER = (
    "CASE WHEN invoices.total - invoices.amount_paid - invoices.discount_applied"
    f" = $12::bigint + $15::bigint THEN '{status_after(True)}' ELSE '{status_after(False)}' END"
)


def _decimal(minor: str, exponent: str) -> str:
    """SQL of the decimal string of `minor` units (as `app.kit.money.to_decimal` gives)."""
    return f"round(({minor})::numeric / 10::numeric ^ {exponent}::int, {exponent}::int)::text"


# The values of the event's data (app.events.shapes.SETTLED) that WRITE decides.
SETTLED_SQL = {
    "amount_paid": _decimal("invoice.amount_paid", "$30"),
    "discount_applied": _decimal("invoice.discount_applied", "$30"),
    "balance_due": _decimal(
        "invoice.total - invoice.amount_paid - invoice.discount_applied", "$30"
    ),
    "status": "invoice.status",
    "balance": _decimal("wallet.balance", "$31"),
}


def _filled(template: str, values: dict[str, str]) -> str:
    """SQL of the JSON `template` with each of `shapes.SETTLED` set to its value's SQL."""
    for name, path in shapes.SETTLED.items():
        template = f"jsonb_set({template}, '{{{','.join(path)}}}', to_jsonb({values[name]}))"
    return template


# $1 wallet, $2 debit, $3 invoice, $4-$6 the invoice as read (amount paid, discount,
# status), $7 whether the invoice must still be exactly as read (see `_exact`), $8 payment
# id, $9 tenant, $10 customer, $11 invoice currency, $12 amount, $13 wallet currency,
# $14 rate, $15 discount, $16 reference, $17 memo, $18 accounting code, $19 key, $20 now,
# $21 ledger transaction, $22 fingerprint, $23 the receipt to keep under the key (the
# wallet balance, balance due and status filled in from the rows written), $24-$27 the
# ledger legs (accounts, currencies, amounts, the wallet of the wallet's own leg), $28
# the event id, $29 the event's data (its values decided here filled in, as for $23),
# $30 and $31 the exponents of the invoice's and the wallet's currency. The readers are
# woken once it has committed (app.events.hub `CommittedNotices`), not by a NOTIFY in it.
WRITE = (
    """
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
        status = """  # noqa: S608 (STATUS_AFTER is this module's constant, no input)
    + STATUS_AFTER
    + """
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
    SELECT $9, $21, 'PAYMENT', e.account, e.wallet_id, payment.id, e.currency, e.amount,
        CASE WHEN e.wallet_id IS NOT NULL THEN wallet.balance END, $16, $20
    FROM payment, wallet,
        unnest($24::text[], $25::text[], $26::bigint[], $27::text[]) WITH ORDINALITY
            AS e (account, currency, amount, wallet_id, position)
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
), event AS (
    INSERT INTO events (id, tenant_id, type, data, created_at)
    SELECT $28, $9, 'payment.succeeded', """
    + _filled("$29::jsonb", SETTLED_SQL)
    + """::text, $20
    FROM wallet, invoice
    RETURNING seq
), deliveries AS ("""
    + fan_out("event.seq", "$20", "$9", "'payment.succeeded'", source="event, ")
    + """)
SELECT wallet.balance, invoice.amount_paid, invoice.discount_applied, invoice.status,
    (SELECT seq FROM event) AS event_seq
FROM wallet, invoice
"""
)

KEEP_REFUSAL = """
INSERT INTO idempotency_records (tenant_id, customer_id, key, fingerprint, outcome, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING true
"""


class PgStore:
    """One pooled connection for the payment's statements, each its own transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __aenter__(self) -> PgStore:
        self.acquired: PoolAcquireContext = (await self.db.pg_pool()).acquire()
        self.conn: asyncpg.Connection = await self.acquired.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.acquired.__aexit__(exc_type, exc, tb)

    async def read(self, command: PayInvoice, wallet_currency: str | None) -> Snapshot:
        row = await self.db.pg_fetchrow(
            self.conn,
            READ,
            command.tenant_id,
            command.customer_id,
            command.invoice_number,
            wallet_currency,
            command.idempotency_key,
            command.session_jti,
        )
        assert row is not None  # LEFT JOINs from one row
        asked = command.session_jti is not None
        return Snapshot(
            row["customer_id"] is not None,
            _invoice(row, command),
            _wallet(row, command),
            row["fingerprint"],
            row["outcome"],
            session_ended=asked
            and (
                row["session_jti"] is None
                or session_ended(row["session_revoked_at"], row["session_expires_at"])
            ),
            suspended=asked and row["customer_status"] == CUSTOMER_SUSPENDED,
        )

    async def write(self, write: Write) -> Settlement | None:
        command, invoice, wallet, plan = write.command, write.invoice, write.wallet, write.plan
        key = command.idempotency_key
        payment_id = write.payment_id
        legs = payment_legs(wallet.id, wallet.currency, plan.debit, invoice.currency, plan.amount)
        # The receipt kept under the key: WRITE fills in its balance due, status and wallet
        # balance as it leaves them (they may differ from what READ saw).
        planned = (
            None
            if key is None
            else success_outcome(receipt_of(payment_id, invoice, wallet, plan.amount))
        )
        columns = payment_columns(payment_id, command, invoice, wallet, plan, write.now)
        payment = as_loaded(Payment, **columns)
        # The event as READ saw the rows: WRITE fills in what it decides (SETTLED_SQL).
        data = encode(shapes.payment_succeeded(payment, invoice, wallet))
        committing()  # WRITE commits as it runs: past here, no time limit cancels (kit.deadline)
        try:
            async with turns.turn(wallet.id):
                written = await self.db.pg_fetchrow(
                    self.conn,
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
                    write.now,
                    new_id("txn"),
                    write.fingerprint,
                    planned,
                    [leg.account for leg in legs],
                    [leg.currency for leg in legs],
                    [leg.amount for leg in legs],
                    [leg.wallet_id for leg in legs],
                    new_id("evt"),
                    data,
                    require_currency(invoice.currency).exponent,
                    require_currency(wallet.currency).exponent,
                )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != IDEMPOTENCY_PKEY:
                raise
            return None  # the key was taken meanwhile; nothing of this statement stands
        if written is None:
            return None
        committed_notices(self.db).add(written["event_seq"])
        paid = _changed_row(
            invoice,
            amount_paid=written["amount_paid"],
            discount_applied=written["discount_applied"],
            status=written["status"],
        )
        debited = _changed_row(wallet, balance=written["balance"])
        receipt = receipt_of(payment_id, paid, debited, plan.amount)
        return Settlement(receipt, lambda: (payment, paid, debited))

    async def keep_refusal(
        self, command: PayInvoice, fingerprint: str, outcome: str, now: datetime
    ) -> bool:
        committing()  # one statement, committed as it runs (kit.deadline)
        kept = await self.db.pg_fetchrow(
            self.conn,
            KEEP_REFUSAL,
            command.tenant_id,
            command.customer_id,
            command.idempotency_key,
            fingerprint,
            outcome,
            now,
        )
        return kept is not None


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
