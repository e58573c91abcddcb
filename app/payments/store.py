"""`PaymentStore`: what the one payment loop (`service`) needs of a database. A store
reads a `Snapshot`, writes a `Write` (or answers that the rows moved since it read),
and keeps a refusal under its idempotency key. Two implementations: `sqlite_store`
(the ORM inside one write-locked transaction) and `pg_store` (one READ, one
conditional WRITE statement)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.db.models import Invoice, Wallet
from app.payments.command import PayInvoice
from app.payments.receipt import Settlement
from app.payments.rules import Plan


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the checks look at, read together: whether the customer exists, the
    invoice by number, the paying wallet (None when either is missing), the record of
    the idempotency key (its fingerprint and outcome, None when the key is free), and
    when asked, how the session stands."""

    customer_found: bool
    invoice: Invoice | None
    wallet: Wallet | None
    held: str | None
    outcome: str | None
    # Asked only with `PayInvoice.session_jti` (else both False): the session ended, the
    # customer suspended (app.auth.tokens.session_ended, CUSTOMER_SUSPENDED).
    session_ended: bool = False
    suspended: bool = False


@dataclass(frozen=True, slots=True)
class Write:
    """A decided payment: the plan for the invoice and wallet as read, the new payment's
    id, and the fingerprint its key binds (None without a key)."""

    command: PayInvoice
    invoice: Invoice
    wallet: Wallet
    plan: Plan
    payment_id: str
    fingerprint: str | None
    now: datetime


class PaymentStore(Protocol):
    async def read(self, command: PayInvoice, wallet_currency: str | None) -> Snapshot:
        """The snapshot for `command`, the wallet in `wallet_currency` (None: unknown)."""
        ...

    async def write(self, write: Write) -> Settlement | None:
        """Debit, settle, add the payment, its ledger entries, its key's record and its
        `payment.succeeded` event (app.events.outbox), and commit; None when the rows
        moved since the read so the plan may no longer hold (nothing written: decide
        again)."""
        ...

    async def keep_refusal(
        self, command: PayInvoice, fingerprint: str, outcome: str, now: datetime
    ) -> bool:
        """Keep a refusal's `outcome` under the command's key and commit; False when
        another request took the key meanwhile (nothing written: decide again)."""
        ...
