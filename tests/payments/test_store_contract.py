"""The `PaymentStore` contract, the same cases on both stores (the `db` fixture gives
SQLite and PostgreSQL): pay the whole balance, pay a part, a write after the rows moved,
keep a refusal, replay a kept outcome, a key taken meanwhile."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from app import errors
from app.db.engine import Database
from app.db.models import new_id, utcnow
from app.kit.money import require_currency
from app.payments import PayInvoice, Settlement, pay_invoice, settle_invoice
from app.payments import service as pay_service
from app.payments.pg_store import PgStore
from app.payments.receipt import error_outcome, replay
from app.payments.rules import check_invoice, decide
from app.payments.sqlite_store import SqliteStore
from app.payments.store import Snapshot, Write
from tests.support import DEMO_CLONE, World, invoice, make_world, snapshot

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def store_for(db: Database) -> SqliteStore | PgStore:
    return SqliteStore(db) if db.is_sqlite else PgStore(db)


def pay(world: World, amount: str | None = None, key: str | None = None) -> PayInvoice:
    return PayInvoice(
        tenant_id=DEMO_CLONE,
        customer_id=world.ada,
        invoice_number=100,
        currency="NGN",
        amount=None if amount is None else Decimal(amount),
        idempotency_key=key,
    )


def planned(command: PayInvoice, snap: Snapshot) -> Write:
    """What the service would write for `command` on `snap` (its checks passing)."""
    ngn = require_currency("NGN")
    check_invoice(snap.invoice, command, command.customer_id, ngn)
    assert snap.invoice is not None and snap.wallet is not None
    plan = decide(command, snap.invoice, snap.wallet, ngn, ngn, NOW, reused=snap.held)
    payment_id = new_id("pay")
    fingerprint = None if command.idempotency_key is None else command.fingerprint()
    return Write(command, snap.invoice, snap.wallet, plan, payment_id, fingerprint, NOW)


async def read_and_write(db: Database, command: PayInvoice) -> Settlement | None:
    async with store_for(db) as store:
        return await store.write(planned(command, await store.read(command, "NGN")))


async def stored(db: Database) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT amount_paid, status FROM invoices WHERE number = 100"))
        ).one()
        keys = (await conn.execute(text("SELECT key, outcome FROM idempotency_records"))).all()
    return {"invoice": tuple(row), "keys": {key: outcome for key, outcome in keys}}


async def test_a_store_reads_what_the_checks_look_at(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    async with store_for(db) as store:
        snap = await store.read(pay(world), "NGN")
        missing = await store.read(replace(pay(world), customer_id="cus_nobody"), "NGN")
        no_wallet = await store.read(pay(world), None)
    assert snap.customer_found and snap.held is None and snap.outcome is None
    assert snap.invoice is not None and (snap.invoice.total, snap.invoice.status) == (
        5000,
        "UNPAID",
    )
    assert snap.wallet is not None and snap.wallet.balance == 5_000_000
    assert not missing.customer_found
    assert no_wallet.wallet is None and no_wallet.invoice is not None


async def test_writing_the_whole_balance_pays_the_invoice(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    settlement = await read_and_write(db, pay(world))
    assert settlement is not None
    receipt = settlement.receipt
    assert (receipt.amount_paid_now, receipt.balance_due, receipt.status) == (5000, 0, "PAID")
    assert receipt.wallet_balance == 5_000_000 - 5000
    assert (await stored(db))["invoice"] == (5000, "PAID")
    assert settlement.rows is not None
    payment, paid, debited = settlement.rows
    assert (payment.amount, paid.status, debited.balance) == (5000, "PAID", 4_995_000)


async def test_writing_a_part_leaves_the_invoice_partly_paid(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    settlement = await read_and_write(db, pay(world, "12.34", key="k-part"))
    assert settlement is not None
    assert (settlement.receipt.balance_due, settlement.receipt.status) == (
        3766,
        "PARTIALLY_PAID",
    )
    kept = (await stored(db))["keys"]["k-part"]
    assert replay(kept).status == "PARTIALLY_PAID" and replay(kept).balance_due == 3766
    assert (await stored(db))["invoice"] == (1234, "PARTIALLY_PAID")


async def test_a_write_the_rows_moved_under_writes_nothing(postgres_db: Database) -> None:
    """PostgreSQL reads without locks: another payment may commit between READ and WRITE;
    a plan for the whole balance no longer holds and the store answers "moved"."""
    # (SQLite holds the write lock from read to write: no row can move there)
    db = postgres_db
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    async with store_for(db) as store:
        stale = planned(pay(world), await store.read(pay(world), "NGN"))
        await pay_invoice(db, pay(world, "1.00"))  # another payment commits meanwhile
        before = await snapshot(db)
        assert await store.write(stale) is None
    assert await snapshot(db) == before


async def test_the_service_reads_again_when_a_store_answers_moved(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On "moved" the one loop reads a fresh snapshot and decides again: one payment."""
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    calls: list[str] = []

    class Moving:
        """The real store, answering "moved" to its first write."""

        def __init__(self, inner: SqliteStore | PgStore) -> None:
            self.inner = inner

        async def __aenter__(self) -> Moving:
            await self.inner.__aenter__()
            return self

        async def __aexit__(self, *exc: Any) -> None:
            await self.inner.__aexit__(*exc)

        async def read(self, command: PayInvoice, wallet_currency: str | None) -> Snapshot:
            calls.append("read")
            return await self.inner.read(command, wallet_currency)

        async def write(self, write: Write) -> Settlement | None:
            calls.append("write")
            if calls.count("write") == 1:
                return None
            return await self.inner.write(write)

        async def keep_refusal(
            self, command: PayInvoice, fingerprint: str, outcome: str, now: datetime
        ) -> bool:
            return await self.inner.keep_refusal(command, fingerprint, outcome, now)

    monkeypatch.setattr(pay_service, "open_store", lambda db: Moving(store_for(db)))
    settlement = await settle_invoice(db, pay(world, "2.00", key="k-moved"))
    assert calls == ["read", "write", "read", "write"]
    assert settlement.receipt.amount_paid_now == 200 and not settlement.receipt.replayed
    assert (await snapshot(db))["payments"] == [(1,)]
    assert (await stored(db))["invoice"] == (200, "PARTIALLY_PAID")


async def test_a_refusal_is_kept_under_its_key(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    command = pay(world, "99.00", key="k-refused")
    refusal = error_outcome(
        errors.WrongAmount(reason="EXCEEDS_BALANCE_DUE", currency="NGN", balance_due=5000)
    )
    before = await snapshot(db)
    async with store_for(db) as store:
        await store.read(command, "NGN")
        assert await store.keep_refusal(command, command.fingerprint(), refusal, utcnow())
    assert (await stored(db))["keys"] == {"k-refused": refusal}
    assert await snapshot(db) == before  # no money moved
    async with store_for(db) as store:
        again = await store.read(command, "NGN")
    assert (again.held, again.outcome) == (command.fingerprint(), refusal)


async def test_a_kept_outcome_is_replayed(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    first = await pay_invoice(db, pay(world, "5.00", key="k-replay"))
    before = await snapshot(db)
    again = await pay_invoice(db, pay(world, "5.00", key="k-replay"))
    assert again.replayed and replace(again, replayed=False) == first
    assert await snapshot(db) == before


async def test_a_key_taken_meanwhile_makes_the_store_answer_moved(db: Database) -> None:
    """Another request answered the key after this one's read: neither the payment nor
    the refusal is written, and the caller decides again (to replay that answer)."""
    world = await make_world(db)
    await invoice(db, 100, world.ada, "50.00")
    command = pay(world, "3.00", key="k-taken")
    async with store_for(db) as store:
        write = planned(command, await store.read(command, "NGN"))
    await pay_invoice(db, pay(world, "1.00", key="k-taken"))  # takes the key first
    before = await snapshot(db)
    kept = (await stored(db))["keys"]
    async with store_for(db) as store:
        assert await store.write(write) is None
        assert not await store.keep_refusal(command, command.fingerprint(), "{}", utcnow())
    assert await snapshot(db) == before and (await stored(db))["keys"] == kept
    with pytest.raises(errors.IdempotencyKeyReused):
        await pay_invoice(db, command)
