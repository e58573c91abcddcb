"""`PayInvoice`: a request to pay, as both edges hand it to the service."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from app.kit.text import check_lengths


@dataclass(frozen=True)
class PayInvoice:
    """A request to pay; amounts are the caller's `Decimal`s, not yet validated."""

    tenant_id: str
    customer_id: str
    invoice_number: int
    currency: str
    amount: Decimal | None = None
    wallet_currency: str | None = None
    exchange_rate: Decimal | None = None
    expected_balance_due: Decimal | None = None
    apply_early_payment_discount: bool = False
    reference: str | None = None
    memo: str | None = None
    accounting_code: str | None = None
    idempotency_key: str | None = None
    # The session the edge took the customer from, when it did not read it for this
    # request (a remembered one, app.auth.tokens.Sessions): the payment's read confirms
    # it is still live and the customer not suspended (SessionEnded, CustomerSuspended).
    session_jti: str | None = None

    def check_shape(self) -> None:
        """Raise InvalidRequest for text fields no real request has (Check.INVALID_REQUEST)."""
        limits = {
            "idempotencyKey": (self.idempotency_key, 200),
            "reference": (self.reference, 200),
            "memo": (self.memo, 1000),
            "accountingCode": (self.accounting_code, 100),
            "currency": (self.currency, 16),
            "walletCurrency": (self.wallet_currency, 16),
        }
        check_lengths(limits, self.idempotency_key)

    def fingerprint(self) -> str:
        """Hash of every parameter that decides the outcome (not the key itself)."""

        def norm(value: Decimal | None) -> str | None:
            return None if value is None else str(value.normalize()) if value.is_finite() else "x"

        data = [
            self.invoice_number,
            self.currency,
            norm(self.amount),
            self.wallet_currency or self.currency,
            norm(self.exchange_rate),
            norm(self.expected_balance_due),
            self.apply_early_payment_discount,
            self.reference,
            self.memo,
            self.accounting_code,
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()
