"""What a refund may do: the checks in DESIGN.md's order and the wallet credit's rounding.

Order, the first that fails decides: the payment exists in the tenant (`PaymentNotFound`,
in the service), then the amount (`RefundExceedsRefundable`, then `WrongAmount`), then a
reused idempotency key (`IdempotencyKeyReused`).
"""

from __future__ import annotations

from dataclasses import dataclass

from app import errors
from app.db.models import Invoice, Payment
from app.kit.money import AmountError, find_currency, to_decimal, to_minor
from app.refunds.command import RefundPayment


@dataclass(frozen=True)
class RefundPlan:
    """Minor units: `amount` of the invoice currency, `wallet_credit` of the wallet's, and
    the early-payment `discount` the refund takes back off the invoice."""

    amount: int
    wallet_credit: int
    discount: int


def credit_for(debit: int, amount: int, refunded_before: int, refunding: int) -> int:
    """The wallet credit of refunding `refunding` of a payment of `amount` that debited
    `debit`, after `refunded_before` was refunded: the refunds of a payment credit
    floor(D * R / A) in all, so each credit is rounded down (never in the payer's favour)
    and the whole amount, refunded in any steps, gives back exactly the debit."""
    total = refunded_before + refunding
    if not 0 <= refunded_before <= total <= amount:
        raise ValueError("refunds must lie within the payment")
    return debit * total // amount - debit * refunded_before // amount


def decide(
    command: RefundPayment,
    payment: Payment,
    invoice: Invoice,
    refunded: int,
    *,
    reused: object | None,
) -> RefundPlan:
    """The checks after the payment was found (and locked), with `refunded` its refunds'
    sum so far: what to refund and credit, or the `DomainError` to answer."""
    currency = find_currency(payment.currency)
    assert currency is not None  # it was known when the payment was made
    refundable = payment.amount - refunded
    exceeds = errors.RefundExceedsRefundable(currency=payment.currency, refundable=refundable)

    def wrong(reason: errors.WrongAmountReason) -> errors.WrongAmount:
        return errors.WrongAmount(
            reason=reason.value,
            currency=payment.currency,
            balance_due=invoice.balance_due,
        )

    if refundable <= 0:
        raise exceeds
    amount = refundable
    if command.amount is not None:
        if command.amount > to_decimal(refundable, currency):
            raise exceeds
        if command.amount <= 0:
            raise wrong(errors.WrongAmountReason.NOT_POSITIVE)
        try:
            amount = to_minor(command.amount, currency)
        except AmountError:
            # Within the refundable, so not too large: it has more decimals than allowed.
            raise wrong(errors.WrongAmountReason.TOO_PRECISE) from None
    expected = command.expected_refundable
    if expected is not None and expected != to_decimal(refundable, currency):
        raise wrong(errors.WrongAmountReason.STALE_REFUNDABLE)
    if payment.discount and amount != refundable:
        # The discount was granted for settling the whole balance: it goes back whole.
        raise wrong(errors.WrongAmountReason.PARTIAL_REFUND_OF_DISCOUNTED_PAYMENT)
    if reused is not None:
        raise errors.IdempotencyKeyReused(key=command.idempotency_key or "")
    credit = credit_for(payment.wallet_debit, payment.amount, refunded, amount)
    return RefundPlan(amount=amount, wallet_credit=credit, discount=payment.discount)
