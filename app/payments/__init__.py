"""Paying an invoice from a wallet: the one service behind the `payInvoice` mutation and the
REST route (`service`), and its PostgreSQL hot path (`pg`)."""

from app.payments.service import PayInvoice, PaymentReceipt, pay_invoice, settle_invoice

__all__ = ["PayInvoice", "PaymentReceipt", "pay_invoice", "settle_invoice"]
