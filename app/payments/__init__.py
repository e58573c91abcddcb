"""Paying an invoice from a wallet, one flow behind a store interface:

command      PayInvoice: the request, its shape check and fingerprint
rules        Check (the order of the checks), check_invoice, decide, the plan, the
             status a payment leaves, the payment's row (pure)
receipt      PaymentReceipt, Settlement, the outcome a key keeps and its replay
store        PaymentStore: read a Snapshot, write a plan ("moved" or done), keep a refusal
sqlite_store the store on SQLite (the ORM, one write-locked unit of work)
pg_store     the store on PostgreSQL (one READ, one conditional WRITE statement)
service      pay_invoice / settle_invoice: the one loop over a store
"""

from app.payments.command import PayInvoice
from app.payments.receipt import PaymentReceipt, Settlement
from app.payments.rules import Check
from app.payments.service import Contended, pay_invoice, settle_invoice

__all__ = [
    "Check",
    "Contended",
    "PayInvoice",
    "PaymentReceipt",
    "Settlement",
    "pay_invoice",
    "settle_invoice",
]
