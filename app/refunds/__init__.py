"""Refunds: money of a payment given back to the wallet that paid it. The request
(`command`), the checks in their order and the rounding of the wallet credit (`rules`),
and the one service behind the `refundPayment` mutation and `invoicepay refund`
(`service`)."""

from app.refunds.command import RefundPayment
from app.refunds.rules import credit_for
from app.refunds.service import RefundResult, refund_payment

__all__ = ["RefundPayment", "RefundResult", "credit_for", "refund_payment"]
