"""`pay_invoice`: the one service behind the `payInvoice` mutation and the REST route, and
the one payment loop both stores run: read a snapshot, check it in `Check` order, decide
the plan, write it; when the rows moved since the read, read again and decide again."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime

from app import errors
from app.db.engine import Database
from app.db.models import new_id, utcnow
from app.kit.money import Currency, find_currency
from app.payments.command import PayInvoice
from app.payments.pg_store import PgStore
from app.payments.receipt import PaymentReceipt, Settlement, error_outcome, replay
from app.payments.rules import check_invoice, decide
from app.payments.sqlite_store import SqliteStore
from app.payments.store import PaymentStore, Write

# Each retry follows another payment's commit on the same rows, so retries always end;
# this only bounds a pathological pile-up.
MAX_ATTEMPTS = 200


class Contended(Exception):
    """The payment lost `MAX_ATTEMPTS` races in a row (answered 503: retry later)."""

    sqlstate = "55P03"  # as a lock timeout: app.db.unavailable answers it 503


async def pay_invoice(
    db: Database, command: PayInvoice, *, now: datetime | None = None
) -> PaymentReceipt:
    """Pay an invoice from a wallet. Raises a `DomainError` (the first `Check` that fails)
    and then writes nothing but the idempotency record of that outcome."""
    return (await settle_invoice(db, command, now=now)).receipt


async def settle_invoice(
    db: Database, command: PayInvoice, *, now: datetime | None = None
) -> Settlement:
    """`pay_invoice`, also giving the committed rows (for answers that show them).

    On PostgreSQL through `PgStore` (one read, one conditional write); on SQLite through
    `SqliteStore` (the ORM, inside one write-locked transaction)."""
    command.check_shape()
    now = now or utcnow()
    async with open_store(db) as store:
        for _ in range(MAX_ATTEMPTS):
            settlement = await _attempt(store, command, now)
            if settlement is not None:
                return settlement
    raise Contended(f"payment of invoice {command.invoice_number} lost {MAX_ATTEMPTS} races")


def open_store(db: Database) -> AbstractAsyncContextManager[PaymentStore]:
    """The store of `db`'s backend, open for one payment."""
    return SqliteStore(db) if db.is_sqlite else PgStore(db)


async def _attempt(store: PaymentStore, command: PayInvoice, now: datetime) -> Settlement | None:
    """Pay, replay or raise; None when the rows moved under us (decide again)."""
    key = command.idempotency_key
    invoice_currency = find_currency(command.currency)
    wallet_currency = find_currency(command.wallet_currency or command.currency)
    snapshot = await store.read(command, wallet_currency.code if wallet_currency else None)
    # Who is asking comes before every check (Check.UNAUTHENTICATED, Check.FORBIDDEN).
    if snapshot.session_ended:
        raise errors.SessionEnded()
    if snapshot.suspended:
        raise errors.CustomerSuspended()
    if not snapshot.customer_found:
        raise errors.UserNotFound()
    # Check.CURRENCY_NOT_FOUND comes after Check.USER_NOT_FOUND.
    invoice_currency = invoice_currency or _unknown(command.currency)
    wallet_currency = wallet_currency or _unknown(command.wallet_currency or command.currency)
    fingerprint = None if key is None else command.fingerprint()
    held = snapshot.held
    if held is not None and held == fingerprint:
        assert snapshot.outcome is not None  # a key's record is written with its outcome
        return Settlement(replay(snapshot.outcome))
    invoice, wallet = snapshot.invoice, snapshot.wallet
    try:
        check_invoice(invoice, command, command.customer_id, invoice_currency)
        assert invoice is not None
        plan = decide(command, invoice, wallet, invoice_currency, wallet_currency, now, reused=held)
    except errors.DomainError as error:
        if (
            fingerprint is not None
            and held is None
            and not await store.keep_refusal(command, fingerprint, error_outcome(error), now)
        ):
            return None  # the key was taken meanwhile: replay (or refuse) its outcome
        raise
    assert wallet is not None  # decide() refused a missing one
    payment_id = new_id("pay")
    return await store.write(Write(command, invoice, wallet, plan, payment_id, fingerprint, now))


def _unknown(code: str) -> Currency:
    raise errors.CurrencyNotFound(currency=code[:16])
