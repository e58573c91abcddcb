"""`RefundPayment`: what an admin asks to refund, as the edges hand it over."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from app.kit.text import check_lengths

# Whose idempotency keys refunds use: a key is shared by every admin of the tenant (two
# operators retrying one refund with one key refund once), and apart from any customer's
# keys (customer ids are `cus_…`). It fills IdempotencyRecord.customer_id.
ADMIN_KEY_OWNER = "admins"


@dataclass(frozen=True)
class RefundPayment:
    """A request to refund; amounts are the caller's `Decimal`s, not yet validated."""

    tenant_id: str
    payment_id: str
    amount: Decimal | None = None
    reason: str | None = None
    expected_refundable: Decimal | None = None
    idempotency_key: str | None = None

    def check_shape(self) -> None:
        """Raise InvalidRequest for text no real request has (before anything is read)."""
        limits = {
            "paymentId": (self.payment_id, 40),
            "reason": (self.reason, 200),
            "idempotencyKey": (self.idempotency_key, 200),
        }
        check_lengths(limits, self.idempotency_key)

    def fingerprint(self) -> str:
        """Hash of every parameter that decides the outcome (not the key itself); its
        first element keeps it apart from any payment's fingerprint."""

        def norm(value: Decimal | None) -> str | None:
            return None if value is None else str(value.normalize()) if value.is_finite() else "x"

        data = [
            "refund",
            self.payment_id,
            norm(self.amount),
            self.reason,
            norm(self.expected_refundable),
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()
