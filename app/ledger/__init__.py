"""The ledger: balanced, append-only entries for every money movement (`entries`) and the
check of every invariant behind `invoicepay ledger verify` (`verify`)."""

from app.ledger.entries import payment_entries, refund_entries, top_up_entries
from app.ledger.verify import Violation, verify_ledger

__all__ = ["Violation", "payment_entries", "refund_entries", "top_up_entries", "verify_ledger"]
