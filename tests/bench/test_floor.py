"""The floor (bench/floor.py) moves a payment's money exactly as the service does: the same
rows, the same ledger legs, a clean ledger (the postgres_db fixture verifies it after each
test), and nothing written when it refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.db.engine import Database
from bench.floor import Config, create_app
from bench.workload import FLOOR_PATH, FLOOR_REFERENCE
from tests.support.world import DEMO_CLONE, invoice, make_payment, make_world

NUMBER = 7001  # Ada's NGN invoice of 100.00; her NGN wallet holds 50000.00

PAYMENT_COLUMNS = """
    SELECT tenant_id, invoice_id, customer_id, wallet_id, currency, amount, wallet_currency,
           wallet_debit, exchange_rate, discount, memo, accounting_code, idempotency_key
    FROM payments WHERE id = :id
"""
ENTRY_COLUMNS = """
    SELECT tenant_id, kind, account, wallet_id, currency, amount, balance_after IS NULL
    FROM ledger_entries WHERE payment_id = :id ORDER BY id
"""
TOTALS = """
    SELECT (SELECT count(*) FROM payments), (SELECT count(*) FROM ledger_entries),
           (SELECT sum(balance) FROM wallets), (SELECT sum(amount_paid) FROM invoices)
"""


@pytest.fixture
async def floor(postgres_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Config(database_url=postgres_db.url, tenant=DEMO_CLONE))
    # ASGITransport sends no lifespan events: run the app's own (it opens the pool).
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as http:
            yield http


def _body(customer: str, amount: Any, number: Any = NUMBER, **more: Any) -> dict[str, Any]:
    return {
        "customer": customer,
        "invoice": number,
        "currency": "NGN",
        "amount": amount,
        "reference": FLOOR_REFERENCE,
        **more,
    }


async def _rows(db: Database, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(text(sql), params)]


async def test_the_floor_pays_as_the_service_does(
    postgres_db: Database, floor: httpx.AsyncClient
) -> None:
    world = await make_world(postgres_db)
    await invoice(postgres_db, NUMBER, world.ada, "100.00")
    by_service = await make_payment(postgres_db, world.ada, NUMBER, "10.00")

    answer = await floor.post(FLOOR_PATH, json=_body(world.ada, 1000))

    assert answer.status_code == 200, answer.text
    paid = answer.json()
    assert paid["invoice"] == NUMBER and paid["amount"] == 1000
    assert paid["status"] == "PARTIALLY_PAID"
    assert paid["walletBalance"] == 5_000_000 - 1000 - 1000
    by_floor = paid["payment"]
    assert await _rows(postgres_db, PAYMENT_COLUMNS, id=by_floor) == await _rows(
        postgres_db, PAYMENT_COLUMNS, id=by_service
    )
    assert await _rows(postgres_db, ENTRY_COLUMNS, id=by_floor) == await _rows(
        postgres_db, ENTRY_COLUMNS, id=by_service
    )
    [(reference,)] = await _rows(
        postgres_db, "SELECT reference FROM payments WHERE id = :id", id=by_floor
    )
    assert reference == FLOOR_REFERENCE


async def test_paying_what_is_left_leaves_the_invoice_paid(
    postgres_db: Database, floor: httpx.AsyncClient
) -> None:
    world = await make_world(postgres_db)
    await invoice(postgres_db, NUMBER, world.ada, "100.00")
    first = await floor.post(FLOOR_PATH, json=_body(world.ada, 2550))
    rest = await floor.post(FLOOR_PATH, json=_body(world.ada, 7450))

    assert first.json()["status"] == "PARTIALLY_PAID"
    assert rest.json()["status"] == "PAID"
    [(status, amount_paid)] = await _rows(
        postgres_db, "SELECT status, amount_paid FROM invoices WHERE number = :n", n=NUMBER
    )
    assert (status, amount_paid) == ("PAID", 10_000)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (_body("{ada}", 10_001), 409, "WRONG_AMOUNT"),
        (_body("{bola}", 100), 404, "INVOICE_NOT_FOUND"),  # Ada's invoice, not Bola's
        (_body("{ada}", 100, number=7999), 404, "INVOICE_NOT_FOUND"),
        (_body("{ada}", 100, currency="EUR"), 404, "WALLET_NOT_FOUND"),
        (_body("{ada}", 1.5), 400, "BAD_REQUEST"),
        (_body("{ada}", 0), 400, "BAD_REQUEST"),
        (_body("{ada}", 100, reference=""), 400, "BAD_REQUEST"),
    ],
    ids=["overpaid", "not-theirs", "no-invoice", "no-wallet", "float", "zero", "no-reference"],
)
async def test_a_refused_payment_writes_nothing(
    postgres_db: Database, floor: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    world = await make_world(postgres_db)
    await invoice(postgres_db, NUMBER, world.ada, "100.00")
    body["customer"] = body["customer"].format(ada=world.ada, bola=world.bola)
    before = await _rows(postgres_db, TOTALS)

    answer = await floor.post(FLOOR_PATH, json=body)

    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert await _rows(postgres_db, TOTALS) == before


async def test_a_drained_wallet_is_refused(postgres_db: Database, floor: httpx.AsyncClient) -> None:
    world = await make_world(postgres_db)  # Bola's NGN wallet holds 1000.00
    await invoice(postgres_db, NUMBER, world.bola, "5000.00")
    before = await _rows(postgres_db, TOTALS)

    answer = await floor.post(FLOOR_PATH, json=_body(world.bola, 100_001))

    assert answer.status_code == 409 and answer.json()["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert await _rows(postgres_db, TOTALS) == before


async def test_a_body_that_is_not_json_is_refused(floor: httpx.AsyncClient) -> None:
    answer = await floor.post(FLOOR_PATH, content=b"{not json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "BAD_REQUEST"
