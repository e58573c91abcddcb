"""The ledger is append-only in the database itself: whatever code or person holds a
connection, UPDATE and DELETE of a ledger entry are refused and change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db.engine import Database
from tests.support import invoice, make_payment, make_world, snapshot_all

TAMPERING = {
    "an amount rewritten": "UPDATE ledger_entries SET amount = amount + 1",
    "a balance_after rewritten": "UPDATE ledger_entries SET balance_after = 0",
    "one entry deleted": "DELETE FROM ledger_entries WHERE amount < 0",
    "every entry deleted": "DELETE FROM ledger_entries",
}


@pytest.mark.parametrize("statement", TAMPERING.values(), ids=TAMPERING.keys())
async def test_the_database_refuses_to_change_or_remove_a_ledger_entry(
    db: Database, statement: str
) -> None:
    # given a ledger with top-ups and a payment in it
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    await make_payment(db, world.ada, 100123, "5000")
    before = await snapshot_all(db)
    # when someone with a connection tries to rewrite history
    with pytest.raises(DBAPIError, match="ledger is append-only"):
        async with db.engine.begin() as connection:
            await connection.execute(text(statement))
    # then the trigger refused it and every entry is as it was
    assert await snapshot_all(db) == before
