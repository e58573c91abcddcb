"""payInvoice through GraphQL, on both backends."""

from __future__ import annotations

from app.db.engine import Database
from tests.support import PAY, client_for, gql, invoice, make_world, snapshot


async def test_a_customer_pays_invoice_100123_in_two_parts(db: Database) -> None:
    # given Ada's invoice 100123 of 15000 NGN and her NGN wallet of 50000
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with client_for(db) as client:
        # when she pays 5000 and then 10000
        first = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "5000"}},
            world.ada_token,
        )
        second = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "10000.00"}},
            world.ada_token,
        )
    # then the invoice goes PARTIALLY_PAID then PAID and her wallet lost 15000
    one = first["data"]["payInvoice"]
    two = second["data"]["payInvoice"]
    assert one["__typename"] == "PayInvoiceSuccess", one
    assert one["invoice"]["status"] == "PARTIALLY_PAID"
    assert one["invoice"]["balanceDue"]["amount"] == "10000.00"
    assert two["invoice"]["status"] == "PAID"
    assert two["wallet"]["balance"]["amount"] == "35000.00"
    assert len(two["invoice"]["payments"]) == 2


async def test_insufficient_funds_writes_nothing(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 100200, world.bola, "2500")
    before = await snapshot(db)
    async with client_for(db) as client:
        result = await gql(
            client,
            PAY,
            {"input": {"invoiceNumber": 100200, "currency": "NGN"}},
            world.bola_token,
        )
    error = result["data"]["payInvoice"]
    assert error["__typename"] == "InsufficientFunds"
    assert error["balance"] == {"amount": "1000.00", "currency": "NGN"}
    assert error["required"] == {"amount": "2500.00", "currency": "NGN"}
    assert await snapshot(db) == before
