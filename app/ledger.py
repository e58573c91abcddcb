"""The ledger: balanced, append-only entries for every money movement.

Accounts: `wallet:<id>` (a customer's wallet), `funding` (money entering wallets from
outside), `fx` (currency conversion clearing), `settled` (money received on invoices).
Within one transaction the entries of each currency sum to zero.
"""

from __future__ import annotations

from datetime import datetime

from app.models import LedgerEntry, Payment, Wallet, new_id

FUNDING = "funding"
FX = "fx"
SETTLED = "settled"


def wallet_account(wallet_id: str) -> str:
    return f"wallet:{wallet_id}"


def top_up_entries(
    wallet: Wallet, amount: int, reference: str | None, now: datetime
) -> list[LedgerEntry]:
    """Entries crediting `wallet` (whose balance already includes `amount`)."""
    txn = new_id("txn")
    common = dict(
        tenant_id=wallet.tenant_id,
        transaction_id=txn,
        kind="TOP_UP",
        currency=wallet.currency,
        reference=reference,
        created_at=now,
    )
    return [
        LedgerEntry(
            account=wallet_account(wallet.id),
            wallet_id=wallet.id,
            amount=amount,
            balance_after=wallet.balance,
            **common,
        ),
        LedgerEntry(account=FUNDING, amount=-amount, **common),
    ]


def payment_entries(payment: Payment, wallet: Wallet, now: datetime) -> list[LedgerEntry]:
    """Entries debiting `wallet` (balance already reduced) and settling the invoice."""
    txn = new_id("txn")
    common = dict(
        tenant_id=payment.tenant_id,
        transaction_id=txn,
        kind="PAYMENT",
        payment_id=payment.id,
        reference=payment.reference,
        created_at=now,
    )
    entries = [
        LedgerEntry(
            account=wallet_account(wallet.id),
            wallet_id=wallet.id,
            currency=payment.wallet_currency,
            amount=-payment.wallet_debit,
            balance_after=wallet.balance,
            **common,
        )
    ]
    if payment.wallet_currency != payment.currency:
        entries += [
            LedgerEntry(
                account=FX, currency=payment.wallet_currency, amount=payment.wallet_debit, **common
            ),
            LedgerEntry(account=FX, currency=payment.currency, amount=-payment.amount, **common),
        ]
    entries.append(
        LedgerEntry(account=SETTLED, currency=payment.currency, amount=payment.amount, **common)
    )
    return entries
