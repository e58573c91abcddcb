"""`verify_ledger`: check every ledger invariant inside the database.

Each check is one SQL statement (aggregates and window functions, portable between
SQLite and PostgreSQL) that returns only the offending rows, at most
`MAX_REPORTED + 1` of them, so the check scales to millions of entries without
loading them into Python. All checks read one consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from app.db.engine import Database
from app.ledger.entries import FUNDING, FX, SETTLED

# Rows reported per check; more are summarised in one extra violation.
MAX_REPORTED = 100


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    detail: str


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    sql: str
    # One offending row -> (subject, detail).
    describe: Callable[[Sequence[Any]], tuple[str, str]]


# Bound into every check (a statement ignores the names it does not use).
_PARAMS = {"funding": FUNDING, "fx": FX, "settled": SETTLED}

# Every invoice beside its payments' sums less its refunds' (a whole refund of a
# discounted payment takes its discount back) and the status its amounts imply. A void
# invoice may have had payments, all refunded.
_INVOICES = """
    SELECT i.id, i.number, i.status, i.amount_paid, i.discount_applied,
           COALESCE(p.paid, 0) - COALESCE(r.refunded, 0) AS paid,
           COALESCE(p.discounted, 0) - COALESCE(r.undiscounted, 0) AS discounted,
           CASE
               WHEN i.status = 'VOID'
                    AND COALESCE(p.paid, 0) - COALESCE(r.refunded, 0) = 0
                    AND i.amount_paid = 0 AND i.discount_applied = 0 THEN 'VOID'
               WHEN i.total - i.discount_applied - i.amount_paid = 0 THEN 'PAID'
               WHEN i.amount_paid = 0 AND i.discount_applied = 0 THEN 'UNPAID'
               ELSE 'PARTIALLY_PAID'
           END AS expected_status
    FROM invoices i
    LEFT JOIN (
        SELECT invoice_id, SUM(amount) AS paid, SUM(discount) AS discounted
        FROM payments GROUP BY invoice_id
    ) p ON p.invoice_id = i.id
    LEFT JOIN (
        SELECT invoice_id, SUM(amount) AS refunded, SUM(discount) AS undiscounted
        FROM refunds GROUP BY invoice_id
    ) r ON r.invoice_id = i.id
"""

# Every payment that has refunds beside their sums.
_REFUNDED = """
    SELECT p.id, p.amount, p.currency, p.wallet_debit, p.wallet_currency,
           r.refunded, r.credited
    FROM payments p
    JOIN (
        SELECT payment_id, SUM(amount) AS refunded, SUM(wallet_credit) AS credited
        FROM refunds GROUP BY payment_id
    ) r ON r.payment_id = p.id
"""


def _over_invoices(columns: str, where: str) -> str:
    """`SELECT columns … WHERE where` over `_INVOICES` (constant SQL, never input)."""
    return f"SELECT {columns} FROM ({_INVOICES}) i WHERE {where}"  # noqa: S608


def _over_refunded(where: str) -> str:
    """`SELECT * … WHERE where` over `_REFUNDED` (constant SQL, never input)."""
    return f"SELECT * FROM ({_REFUNDED}) p WHERE {where}"  # noqa: S608


CHECKS: tuple[Check, ...] = (
    Check(
        "transaction_balanced",
        "every ledger transaction sums to zero per currency",
        """
        SELECT transaction_id, currency, SUM(amount)
        FROM ledger_entries
        GROUP BY transaction_id, currency
        HAVING SUM(amount) <> 0
        """,
        lambda r: (str(r[0]), f"{r[1]} entries sum to {int(r[2])}, not 0"),
    ),
    Check(
        "entry_account",
        "wallet entries post to their wallet's account, others to a known account",
        """
        SELECT id, account, wallet_id
        FROM ledger_entries
        WHERE (wallet_id IS NULL AND account NOT IN (:funding, :fx, :settled))
           OR (wallet_id IS NOT NULL AND account <> 'wallet:' || wallet_id)
        """,
        lambda r: (f"entry {r[0]}", f"account {r[1]!r} with wallet {r[2]}"),
    ),
    Check(
        "wallet_entry_currency",
        "every wallet entry is in its wallet's currency",
        """
        SELECT e.id, e.wallet_id, e.currency, w.currency
        FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id
        WHERE e.currency <> w.currency
        """,
        lambda r: (f"entry {r[0]}", f"{r[2]} entry on {r[3]} wallet {r[1]}"),
    ),
    Check(
        "wallet_balance_matches_ledger",
        "every wallet's balance equals the sum of its entries",
        """
        SELECT w.id, w.balance, COALESCE(s.total, 0)
        FROM wallets w
        LEFT JOIN (
            SELECT wallet_id, SUM(amount) AS total
            FROM ledger_entries WHERE wallet_id IS NOT NULL GROUP BY wallet_id
        ) s ON s.wallet_id = w.id
        WHERE w.balance <> COALESCE(s.total, 0)
        """,
        lambda r: (str(r[0]), f"balance {int(r[1])} but entries sum to {int(r[2])}"),
    ),
    Check(
        "wallet_balance_not_negative",
        "no wallet balance is negative",
        "SELECT id, balance FROM wallets WHERE balance < 0",
        lambda r: (str(r[0]), f"balance {int(r[1])} is negative"),
    ),
    Check(
        "wallet_running_balance",
        "every wallet entry's balance_after is the running sum of the wallet's entries",
        """
        SELECT id, wallet_id, balance_after, running
        FROM (
            SELECT id, wallet_id, balance_after,
                   SUM(amount) OVER (
                       PARTITION BY wallet_id ORDER BY id ROWS UNBOUNDED PRECEDING
                   ) AS running
            FROM ledger_entries WHERE wallet_id IS NOT NULL
        ) e
        WHERE balance_after IS NULL OR balance_after <> running
        """,
        lambda r: (
            f"entry {r[0]}",
            f"wallet {r[1]}: balance_after {r[2]} but running sum {int(r[3])}",
        ),
    ),
    Check(
        "payment_wallet_entry",
        "every payment has one wallet entry of -wallet_debit in the wallet currency",
        """
        SELECT p.id, p.wallet_debit, p.wallet_currency, e.entries, e.total, e.low, e.high
        FROM payments p
        LEFT JOIN (
            SELECT payment_id, wallet_id, COUNT(*) AS entries, SUM(amount) AS total,
                   MIN(currency) AS low, MAX(currency) AS high
            FROM ledger_entries
            WHERE payment_id IS NOT NULL AND wallet_id IS NOT NULL AND kind = 'PAYMENT'
            GROUP BY payment_id, wallet_id
        ) e ON e.payment_id = p.id AND e.wallet_id = p.wallet_id
        WHERE e.entries IS NULL OR e.entries <> 1 OR e.total <> -p.wallet_debit
           OR e.low <> p.wallet_currency OR e.high <> p.wallet_currency
        """,
        lambda r: (
            str(r[0]),
            f"expected one entry of {-int(r[1])} {r[2]}, found "
            + ("none" if r[3] is None else f"{int(r[3])} summing to {int(r[4])} {r[5]}"),
        ),
    ),
    Check(
        "payment_settled_entry",
        "every payment has one settled entry of its amount in the invoice currency",
        """
        SELECT p.id, p.amount, p.currency, e.entries, e.total, e.low, e.high
        FROM payments p
        LEFT JOIN (
            SELECT payment_id, COUNT(*) AS entries, SUM(amount) AS total,
                   MIN(currency) AS low, MAX(currency) AS high
            FROM ledger_entries
            WHERE payment_id IS NOT NULL AND account = :settled AND kind = 'PAYMENT'
            GROUP BY payment_id
        ) e ON e.payment_id = p.id
        WHERE e.entries IS NULL OR e.entries <> 1 OR e.total <> p.amount
           OR e.low <> p.currency OR e.high <> p.currency
        """,
        lambda r: (
            str(r[0]),
            f"expected one entry of {int(r[1])} {r[2]}, found "
            + ("none" if r[3] is None else f"{int(r[3])} summing to {int(r[4])} {r[5]}"),
        ),
    ),
    Check(
        "refunds_within_payment",
        "no payment is refunded more than its amount",
        _over_refunded("refunded > amount"),
        lambda r: (str(r[0]), f"refunds sum to {int(r[5])} {r[2]}, more than {int(r[1])}"),
    ),
    Check(
        "refund_credits_within_debit",
        "no payment's refunds credit its wallet more than the payment debited",
        _over_refunded("credited > wallet_debit"),
        lambda r: (str(r[0]), f"credits sum to {int(r[6])} {r[4]}, more than {int(r[3])}"),
    ),
    Check(
        "refund_entries",
        "every refund has one entry of +wallet_credit on its wallet and one of -amount settled",
        """
        SELECT f.id, f.wallet_credit, f.amount, w.entries, w.total, s.entries, s.total
        FROM refunds f
        LEFT JOIN (
            SELECT refund_id, wallet_id, COUNT(*) AS entries, SUM(amount) AS total
            FROM ledger_entries WHERE refund_id IS NOT NULL AND wallet_id IS NOT NULL
            GROUP BY refund_id, wallet_id
        ) w ON w.refund_id = f.id AND w.wallet_id = f.wallet_id
        LEFT JOIN (
            SELECT refund_id, COUNT(*) AS entries, SUM(amount) AS total
            FROM ledger_entries WHERE refund_id IS NOT NULL AND account = :settled
            GROUP BY refund_id
        ) s ON s.refund_id = f.id
        WHERE w.entries IS NULL OR w.entries <> 1 OR w.total <> f.wallet_credit
           OR s.entries IS NULL OR s.entries <> 1 OR s.total <> -f.amount
        """,
        lambda r: (
            str(r[0]),
            f"expected +{int(r[1])} on the wallet and -{int(r[2])} settled, found"
            f" {r[3] or 0} wallet entries summing to {r[4] or 0}"
            f" and {r[5] or 0} settled summing to {r[6] or 0}",
        ),
    ),
    Check(
        "invoice_amount_paid",
        "every invoice's amount_paid equals the sum of its payments less its refunds",
        _over_invoices("id, number, amount_paid, paid", "amount_paid <> paid"),
        lambda r: (
            f"invoice {r[1]}",
            f"amount_paid {int(r[2])} but payments sum to {int(r[3])}",
        ),
    ),
    Check(
        "invoice_discount_applied",
        "every invoice's discount_applied equals its payments' discounts less those refunded",
        _over_invoices(
            "id, number, discount_applied, discounted", "discount_applied <> discounted"
        ),
        lambda r: (
            f"invoice {r[1]}",
            f"discount_applied {int(r[2])} but payment discounts sum to {int(r[3])}",
        ),
    ),
    Check(
        "invoice_within_total",
        "no invoice is paid and discounted beyond its total",
        """
        SELECT id, number, amount_paid, discount_applied, total FROM invoices
        WHERE amount_paid < 0 OR discount_applied < 0
           OR amount_paid + discount_applied > total
        """,
        lambda r: (
            f"invoice {r[1]}",
            f"paid {int(r[2])} + discount {int(r[3])} exceeds total {int(r[4])}",
        ),
    ),
    Check(
        "invoice_status",
        "every invoice's status follows from its amounts and payments",
        _over_invoices("id, number, status, expected_status", "status <> expected_status"),
        lambda r: (f"invoice {r[1]}", f"status {r[2]} but amounts say {r[3]}"),
    ),
)


async def verify_ledger(
    db: Database, *, progress: Callable[[int, int], None] | None = None
) -> list[Violation]:
    """Every violated invariant (empty when the ledger is sound); `progress(done, total)`
    is called after each check."""
    violations: list[Violation] = []
    async with db.engine.connect() as connection:
        if not db.is_sqlite:
            # One snapshot for all checks, so concurrent payments cannot cause false alarms.
            await connection.execution_options(isolation_level="REPEATABLE READ")
        for done, check in enumerate(CHECKS, start=1):
            result = await connection.execute(
                text(f"{check.sql} LIMIT :limit"), {**_PARAMS, "limit": MAX_REPORTED + 1}
            )
            rows = result.all()
            for row in rows[:MAX_REPORTED]:
                subject, detail = check.describe(tuple(row))
                violations.append(Violation(check.name, subject, detail))
            if len(rows) > MAX_REPORTED:
                violations.append(
                    Violation(check.name, "...", f"more than {MAX_REPORTED} violations")
                )
            if progress is not None:
                progress(done, len(CHECKS))
        await connection.rollback()
    return violations
