"""The PostgreSQL hot path (app/payments/pg_store.py): what a payment sends, when a stale read still
pays, and the answer when a payment keeps losing races.

Correctness under real races is proven elsewhere on both backends (test_contention,
test_pay_model, test_pay_idempotency); here the hot path's own promises are pinned.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import inspect, text

from app import errors
from app.db.engine import Database, pg_dsn
from app.db.models import new_id
from app.db.uow import UnitOfWork
from app.events import hub as events
from app.payments import PayInvoice, pay_invoice, settle_invoice
from app.payments import pg_store as pay_pg
from app.payments import service as pay_service
from tests.conftest import TABLES, _admin
from tests.support import DEMO_CLONE, client_for, invoice, make_world, rest_pay, snapshot_all


@contextmanager
def observed(db: Database) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    db.observer = lambda sql, args, _rows: seen.append((sql, args))
    try:
        yield seen
    finally:
        db.observer = None


@asynccontextmanager
async def notifications(pg: Database) -> AsyncIterator[list[str]]:
    """The payloads of the NOTIFYs on the events channel, as they arrive, while inside."""
    received: list[str] = []
    listener = await asyncpg.connect(pg_dsn(pg.url))
    await listener.add_listener(events.CHANNEL, lambda *args: received.append(args[3]))
    try:
        yield received
    finally:
        await listener.close()


def pay(customer: str, number: int, amount: str | None, **more: Any) -> PayInvoice:
    return PayInvoice(
        tenant_id=DEMO_CLONE,
        customer_id=customer,
        invoice_number=number,
        currency="NGN",
        amount=None if amount is None else Decimal(amount),
        **more,
    )


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only (this is its hot path): a clean schema for each test."""
    asyncio.run(_admin(postgres_url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    return postgres_url


@pytest.fixture
def pg(db: Database) -> Database:
    assert not db.is_sqlite
    return db


async def test_a_payment_is_one_read_and_one_write(pg: Database) -> None:
    world = await make_world(pg)
    await invoice(pg, 100, world.ada, "5000.00")
    with observed(pg) as seen:
        receipt = await pay_invoice(pg, pay(world.ada, 100, "1.00", idempotency_key="k-1"))
    assert [sql for sql, _ in seen] == [pay_pg.READ, pay_pg.WRITE]
    assert receipt.status == "PARTIALLY_PAID" and receipt.balance_due == 499_900
    with observed(pg) as seen:
        again = await pay_invoice(pg, pay(world.ada, 100, "1.00", idempotency_key="k-1"))
    assert [sql for sql, _ in seen] == [pay_pg.READ]  # a replay reads and writes nothing
    assert again.replayed and again.wallet_balance == receipt.wallet_balance


async def test_a_refusal_writes_nothing_but_its_key(pg: Database) -> None:
    world = await make_world(pg)
    await invoice(pg, 100, world.ada, "5000.00")
    before = await snapshot_all(pg)
    with observed(pg) as seen, pytest.raises(errors.WrongAmount):
        await pay_invoice(pg, pay(world.ada, 100, "5000.01"))
    assert [sql for sql, _ in seen] == [pay_pg.READ]
    assert await snapshot_all(pg) == before


@pytest.mark.parametrize(
    ("amount", "more", "exact"),
    [
        ("1.00", {}, False),
        (None, {}, True),
        ("1.00", {"expected_balance_due": Decimal("5000.00")}, True),
        ("1.00", {"apply_early_payment_discount": True}, True),
    ],
)
def test_only_a_stated_amount_may_pay_an_invoice_that_moved(
    amount: str | None, more: dict[str, Any], exact: bool
) -> None:
    assert pay_pg._exact(pay("cus", 1, amount, **more)) is exact


async def test_a_stale_read_pays_while_the_amount_still_fits(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between READ and WRITE another payment moves the invoice: a stated amount that still
    fits is paid on the invoice as it now is; one that no longer fits is decided again and
    refused. Both end with the invoice and the wallet as the two payments left them."""
    world = await make_world(pg)
    await invoice(pg, 100, world.ada, "10.00")
    original = Database.pg_fetchrow
    interleaved: list[str] = []
    writes: list[bool] = []  # ours: whether each WRITE paid

    async def fetchrow(self: Database, executor: Any, sql: str, *args: Any) -> Any:
        if sql == pay_pg.WRITE and not interleaved:
            interleaved.append("other")  # another payment commits after our READ
            await original(self, executor, sql, *_moved(args))
        row = await original(self, executor, sql, *args)
        if sql == pay_pg.WRITE:
            writes.append(row is not None)
        return row

    def _moved(args: tuple[Any, ...]) -> tuple[Any, ...]:
        moved = list(args)
        moved[7] = new_id("pay")  # another payment; the same amount
        moved[20] = new_id("txn")
        moved[18] = None  # no key
        moved[27] = new_id("evt")
        return tuple(moved)

    monkeypatch.setattr(Database, "pg_fetchrow", fetchrow)
    receipt = await pay_invoice(pg, pay(world.ada, 100, "3.00"))
    # the other payment debited 3.00 too (the same WRITE arguments), then ours
    assert receipt.balance_due == 400 and receipt.status == "PARTIALLY_PAID"
    assert writes == [True]  # paid on the moved invoice at once, not decided again
    async with pg.engine.connect() as conn:
        paid = await conn.scalar(text("SELECT amount_paid FROM invoices WHERE number = 100"))
    assert paid == 600

    interleaved.clear()
    writes.clear()
    with pytest.raises(errors.WrongAmount):
        await pay_invoice(pg, pay(world.ada, 100, "3.00"))  # 1.00 left after the other
    assert writes == [False]  # refused by WRITE, then decided again from a fresh READ
    async with pg.engine.connect() as conn:
        paid = await conn.scalar(text("SELECT amount_paid FROM invoices WHERE number = 100"))
    assert paid == 900


async def test_a_payment_that_keeps_losing_races_is_a_503(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(pg)
    await invoice(pg, 100, world.ada, "5000.00")
    monkeypatch.setattr(pay_service, "MAX_ATTEMPTS", 0)
    before = await snapshot_all(pg)
    async with client_for(pg) as client:
        response = await rest_pay(client, {"invoice": 100, "currency": "NGN"}, world.ada_token)
    assert response.status_code == 503
    assert response.headers["X-Error-Code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"] == "1"
    assert await snapshot_all(pg) == before


async def test_the_rows_a_payment_answers_with_are_the_rows_it_wrote(pg: Database) -> None:
    """GraphQL answers from the rows WRITE committed (app.db.models.as_loaded), never read
    again: every column of each must be what the database now holds."""
    world = await make_world(pg)
    await invoice(pg, 100, world.ada, "5000.00")
    settlement = await settle_invoice(
        pg, pay(world.ada, 100, None, reference="r", memo="m", idempotency_key="k")
    )
    assert settlement.rows is not None
    async with UnitOfWork(pg) as uow:
        for answered in settlement.rows:
            stored = await uow.session.get(type(answered), answered.id)
            assert stored is not None
            names = [column.key for column in inspect(type(answered)).column_attrs]
            assert len(names) >= 6
            assert {n: getattr(answered, n) for n in names} == {
                n: getattr(stored, n) for n in names
            }


async def test_committed_payments_are_notified_after_the_fact(
    pg: Database,
) -> None:
    """The hot path notifies nothing inside its statement (that would serialise every
    payment's commit); once committed, a NOTIFY carrying the newest seq wakes the readers."""
    world = await make_world(pg)
    for number in (100, 101, 102):
        await invoice(pg, number, world.ada, "50.00")
    async with notifications(pg) as received:
        notices = events.committed_notices(pg)
        before = notices.batches
        await asyncio.gather(
            *(pay_invoice(pg, pay(world.ada, number, "1.00")) for number in (100, 101, 102))
        )
        await notices.drain()
        async with UnitOfWork(pg) as uow:
            connection = await uow.session.connection()
            newest = (await connection.execute(text("SELECT max(seq) FROM events"))).scalar()
        for _ in range(100):
            if str(newest) in received:
                break
            await asyncio.sleep(0.02)
    assert str(newest) in received
    assert notices.batches > before


async def test_notices_queued_while_one_is_sent_go_out_together(pg: Database) -> None:
    """Every payment committed before the sending task runs is announced by one NOTIFY,
    carrying the newest seq."""
    async with notifications(pg) as received:
        notices = events.committed_notices(pg)
        before = notices.batches
        for seq in (7, 9, 8):  # three payments' seqs, queued in one go
            notices.add(seq)
        await notices.drain()
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
    assert notices.batches - before == 1
    assert received == ["9"]


async def test_work_left_after_dispose_opens_no_connection(pg: Database) -> None:
    """A notice still queued when the database is disposed (at shutdown, or a test's end)
    is dropped with a warning: it must not open a pool that nothing would close."""
    world = await make_world(pg)
    await invoice(pg, 100, world.ada, "50.00")
    await pay_invoice(pg, pay(world.ada, 100, "1.00"))
    await pg.dispose()
    with pytest.raises(RuntimeError, match="disposed"):
        await pg.pg_pool()
    notices = events.committed_notices(pg)
    before = notices.batches
    notices.add(1)
    await notices.drain()
    assert notices.batches == before and notices.pending is None
    assert pg._pg_pool is None
