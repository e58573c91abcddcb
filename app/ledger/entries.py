"""The ledger: balanced, append-only entries for every money movement.

Accounts: `wallet:<id>` (a customer's wallet), `funding` (money entering wallets from
outside), `fx` (currency conversion clearing), `settled` (money received on invoices).
Within one transaction the entries of each currency sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def payment_entries(payment: Payment, wallet: Wallet, now: datetime) -> list[LedgerEntry]:
    """Entries debiting `wallet` (balance already reduced) and settling the invoice."""
    txn = _Transaction(
        payment.tenant_id, "PAYMENT", now, payment.reference, payment.id, id=new_id("txn")
    )
    entries = [txn.wallet_entry(wallet, -payment.wallet_debit)]
    if payment.wallet_currency != payment.currency:
        entries += [
            txn.entry(FX, payment.wallet_currency, payment.wallet_debit),
            txn.entry(FX, payment.currency, -payment.amount),
        ]
    entries.append(txn.entry(SETTLED, payment.currency, payment.amount))
    return entries


def refund_entries(refund: Refund, wallet: Wallet, now: datetime) -> list[LedgerEntry]:
    """The reverse of a payment's entries for `refund`: credits `wallet` (balance already
    increased) and takes the amount back from `settled`, through `fx` across currencies."""
    txn = _Transaction(
        refund.tenant_id, "REFUND", now, refund.reason, refund.payment_id, id=new_id("txn")
    )
    entries = [txn.wallet_entry(wallet, refund.wallet_credit)]
    if refund.wallet_currency != refund.currency:
        entries += [
            txn.entry(FX, refund.wallet_currency, -refund.wallet_credit),
            txn.entry(FX, refund.currency, refund.amount),
        ]
    entries.append(txn.entry(SETTLED, refund.currency, -refund.amount))
    for entry in entries:
        entry.refund_id = refund.id
    return entries
