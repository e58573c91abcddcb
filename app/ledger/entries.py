"""The ledger: balanced, append-only entries for every money movement.

Accounts: `wallet:<id>` (a customer's wallet), `funding` (money entering wallets from
outside), `fx` (currency conversion clearing), `settled` (money received on invoices).
Within one transaction the entries of each currency sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from app.db.models import LedgerEntry, Payment, Refund, Wallet, new_id

FUNDING = "funding"
FX = "fx"
SETTLED = "settled"


def wallet_account(wallet_id: str) -> str:
    return f"wallet:{wallet_id}"


@dataclass(frozen=True)
class _Transaction:
    tenant_id: str
    kind: str
    now: datetime
    reference: str | None
    payment_id: str | None = None
    id: str = ""

    def entry(self, account: str, currency: str, amount: int) -> LedgerEntry:
        return LedgerEntry(
            tenant_id=self.tenant_id,
            transaction_id=self.id,
            kind=self.kind,
            account=account,
            currency=currency,
            amount=amount,
            payment_id=self.payment_id,
            reference=self.reference,
            created_at=self.now,
        )

    def wallet_entry(self, wallet: Wallet, amount: int) -> LedgerEntry:
        """`wallet.balance` must already include `amount`."""
        row = self.entry(wallet_account(wallet.id), wallet.currency, amount)
        row.wallet_id = wallet.id
        row.balance_after = wallet.balance
        return row


def top_up_entries(
    wallet: Wallet, amount: int, reference: str | None, now: datetime
) -> list[LedgerEntry]:
    """Entries crediting `wallet` (whose balance already includes `amount`)."""
    txn = _Transaction(wallet.tenant_id, "TOP_UP", now, reference, id=new_id("txn"))
    return [txn.wallet_entry(wallet, amount), txn.entry(FUNDING, wallet.currency, -amount)]


@dataclass(frozen=True, slots=True)
class Leg:
    """One entry of a transaction before it is written; `wallet_id` marks the wallet's own
    entry, which also carries the wallet and its balance after."""

    account: str
    currency: str
    amount: int
    wallet_id: str | None = None


def payment_legs(
    wallet_id: str, wallet_currency: str, debit: int, currency: str, amount: int
) -> list[Leg]:
    """The legs of a payment of `amount` (invoice currency) debiting `debit` from the
    wallet: through the `fx` account only when the currencies differ. The one definition,
    written by the ORM (`payment_entries`) and by the PostgreSQL pay statement."""
    legs = [Leg(wallet_account(wallet_id), wallet_currency, -debit, wallet_id)]
    if wallet_currency != currency:
        legs += [Leg(FX, wallet_currency, debit), Leg(FX, currency, -amount)]
    legs.append(Leg(SETTLED, currency, amount))
    return legs


def payment_entries(payment: Payment, wallet: Wallet, now: datetime) -> list[LedgerEntry]:
    """Entries debiting `wallet` (balance already reduced) and settling the invoice."""
    txn = _Transaction(
        payment.tenant_id, "PAYMENT", now, payment.reference, payment.id, id=new_id("txn")
    )
    legs = payment_legs(
        wallet.id, payment.wallet_currency, payment.wallet_debit, payment.currency, payment.amount
    )
    return _entries(txn, wallet, legs)


def refund_entries(refund: Refund, wallet: Wallet, now: datetime) -> list[LedgerEntry]:
    """The reverse of a payment's legs for `refund`: credits `wallet` (balance already
    increased) and takes the amount back from `settled`, through `fx` across currencies."""
    txn = _Transaction(
        refund.tenant_id, "REFUND", now, refund.reason, refund.payment_id, id=new_id("txn")
    )
    legs = payment_legs(
        wallet.id, refund.wallet_currency, refund.wallet_credit, refund.currency, refund.amount
    )
    entries = _entries(txn, wallet, [replace(leg, amount=-leg.amount) for leg in legs])
    for entry in entries:
        entry.refund_id = refund.id
    return entries


def _entries(txn: _Transaction, wallet: Wallet, legs: list[Leg]) -> list[LedgerEntry]:
    return [
        txn.wallet_entry(wallet, leg.amount)
        if leg.wallet_id is not None
        else txn.entry(leg.account, leg.currency, leg.amount)
        for leg in legs
    ]
