"""After the load: the ledger verified (`app.ledger.verify.verify_ledger`), and every payment a
client saw succeed found in the database, per channel (REST, GraphQL, the floor, the
replay), with the wallets' debits equal to the payments' (nothing lost, nothing extra)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text

from app.db.engine import Database
from app.kit.money import require_currency, to_minor
from app.ledger.verify import verify_ledger
from bench import seed

PAYMENTS_BY_REFERENCE = """
    SELECT reference, count(*), coalesce(sum(amount), 0), coalesce(sum(wallet_debit), 0)
    FROM payments WHERE customer_id <> :capture GROUP BY reference
"""
WALLETS_DEBITED = """
    SELECT coalesce(sum(:funds - balance), 0) FROM wallets WHERE customer_id <> :capture
"""


@dataclass
class Paid:
    """Successful payments a client saw on one channel."""

    count: int = 0
    minor: int = 0
    uncertain: int = 0  # outcome never learnt (connection lost, timeout)


async def audit(
    url: str, paid: dict[str, Paid], replayed: int, replay_reference: str
) -> dict[str, Any]:
    """`paid`: reference -> what the HTTP clients saw; `replayed`: transactions pgbench
    committed with `replay_reference`. The capture customer's own payments are left out."""
    db = Database(url)
    capture = seed.customer_id(seed.CAPTURE)
    funds = to_minor(seed.WALLET_FUNDS, require_currency(seed.CURRENCY))
    try:
        violations = await verify_ledger(db)
        async with db.engine.connect() as connection:
            rows = await connection.execute(text(PAYMENTS_BY_REFERENCE), {"capture": capture})
            found = {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows}
            debited = await connection.execute(
                text(WALLETS_DEBITED), {"funds": funds, "capture": capture}
            )
            wallet_debits = int(debited.scalar_one())
    finally:
        await db.dispose()
    channels: dict[str, Any] = {}
    for reference, seen in paid.items():
        count, amount, _ = found.get(reference, (0, 0, 0))
        channels[reference] = {
            "client_ok": seen.count,
            "client_minor": seen.minor,
            "uncertain": seen.uncertain,
            "database_rows": count,
            "database_minor": amount,
            "match": seen.count == count and seen.minor == amount,
        }
    replay_rows = found.get(replay_reference, (0, 0, 0))[0]
    channels[replay_reference] = {
        "pgbench_processed": replayed,
        "database_rows": replay_rows,
        "match": replayed == replay_rows,
    }
    payment_debits = sum(debit for _, _, debit in found.values())
    return {
        "ledger_violations": [asdict(v) for v in violations],
        "channels": channels,
        "wallet_debits_minor": wallet_debits,
        "payments_debit_minor": payment_debits,
        "nothing_lost": all(c["match"] for c in channels.values())
        and wallet_debits == payment_debits,
    }
