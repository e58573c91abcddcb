"""Idempotency keys on payInvoice, through GraphQL, on both backends: a key replays its
first outcome (success or domain error) and moves no money; other parameters under one
key are refused; keys belong to one customer."""

from __future__ import annotations

from decimal import Decimal

from app.billing import admin
from app.db.engine import Database
from tests.support import (
    DEMO_CLONE,
    client_for,
    invoice,
    make_world,
    pay_with,
    snapshot,
)


async def test_the_same_key_and_parameters_replay_the_payment_without_moving_money(
    db: Database,
) -> None:
    # given Ada paid her 15000 invoice in full with key "pay-100123"
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    request = {"idempotencyKey": "pay-100123"}
    async with client_for(db) as client:
        first = await pay_with(client, world.ada_token, 100123, **request)
        after_first = await snapshot(db)
        # when she sends the very same request again (the invoice is PAID by now)
        second = await pay_with(client, world.ada_token, 100123, **request)
    # then she gets the same payment back, marked replayed, and no money moved
    assert first["__typename"] == second["__typename"] == "PayInvoiceSuccess", second
    assert first["replayed"] is False
    assert second["replayed"] is True
    assert second["payment"] == first["payment"]
    assert second["payment"]["idempotencyKey"] == "pay-100123"
    assert second["invoice"]["status"] == "PAID"
    assert second["wallet"]["balance"]["amount"] == "35000.00"
    assert await snapshot(db) == after_first
    assert after_first["payments"] == [(1,)]


async def test_the_same_parameters_with_equal_decimals_are_the_same_request(
    db: Database,
) -> None:
    # given Ada paid 5000 of her invoice with key "k-5000"
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    request = {"amount": "5000", "idempotencyKey": "k-5000"}
    async with client_for(db) as client:
        first = await pay_with(client, world.ada_token, 100123, **request)
        after_first = await snapshot(db)
        # when a retry writes the same amount as "5000.00"
        second = await pay_with(client, world.ada_token, 100123, **{**request, "amount": "5000.00"})
    # then it is the same request: replayed, nothing moved
    assert second["__typename"] == "PayInvoiceSuccess", second
    assert second["replayed"] is True
    assert second["payment"]["id"] == first["payment"]["id"]
    assert await snapshot(db) == after_first


async def test_a_replayed_error_stays_the_same_after_its_cause_is_gone(db: Database) -> None:
    # given Bola's invoice of 2500, his wallet of 1000, and a refused payment with key "k-1"
    world = await make_world(db)
    await invoice(db, 100200, world.bola, "2500")
    request = {"idempotencyKey": "k-1"}
    async with client_for(db) as client:
        first = await pay_with(client, world.bola_token, 100200, **request)
        assert first["__typename"] == "InsufficientFunds", first
        # and then his wallet is topped up to 6000
        await admin.top_up_wallet(db, DEMO_CLONE, world.bola, "NGN", Decimal("5000"))
        before_retry = await snapshot(db)
        # when he retries with the same key
        retry = await pay_with(client, world.bola_token, 100200, **request)
        # then he gets the first outcome again, as it was, marked replayed, and nothing moved
        assert first["replayed"] is False
        assert retry == {**first, "replayed": True}
        assert retry["balance"] == {"amount": "1000.00", "currency": "NGN"}
        assert await snapshot(db) == before_retry
        # when he pays with a new key
        fresh = await pay_with(
            client, world.bola_token, 100200, **{**request, "idempotencyKey": "k-2"}
        )
    # then the payment goes through
    assert fresh["__typename"] == "PayInvoiceSuccess", fresh
    assert fresh["replayed"] is False
    assert fresh["invoice"]["status"] == "PAID"
    assert fresh["wallet"]["balance"]["amount"] == "3500.00"


async def test_the_same_key_with_other_parameters_is_refused_and_writes_nothing(
    db: Database,
) -> None:
    # given Ada paid 5000 of her invoice with key "k-1"
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    request = {"amount": "5000", "idempotencyKey": "k-1"}
    async with client_for(db) as client:
        first = await pay_with(client, world.ada_token, 100123, **request)
        assert first["__typename"] == "PayInvoiceSuccess", first
        before = await snapshot(db)
        # when she sends "k-1" with another amount, and with a memo added
        other_amount = await pay_with(
            client, world.ada_token, 100123, **{**request, "amount": "6000"}
        )
        other_memo = await pay_with(
            client, world.ada_token, 100123, **{**request, "memo": "second try"}
        )
        # and then the original request once more
        original = await pay_with(client, world.ada_token, 100123, **request)
    # then both are IdempotencyKeyReused, nothing was written, and the key still replays
    for answer in (other_amount, other_memo):
        assert answer["__typename"] == "IdempotencyKeyReused", answer
        assert answer["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert answer["message"] == "Idempotency key reused with different parameters"
        assert answer["key"] == "k-1"
    assert await snapshot(db) == before
    assert original["replayed"] is True
    assert original["payment"]["id"] == first["payment"]["id"]


async def test_keys_are_scoped_per_customer(db: Database) -> None:
    # given invoices for Ada and for Bola
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    await invoice(db, 100200, world.bola, "500")
    async with client_for(db) as client:
        # when both pay their own invoice with the same key "same-key"
        ada = await pay_with(client, world.ada_token, 100123, idempotencyKey="same-key")
        bola = await pay_with(client, world.bola_token, 100200, idempotencyKey="same-key")
    # then both payments are real and separate
    assert ada["__typename"] == bola["__typename"] == "PayInvoiceSuccess", (ada, bola)
    assert ada["replayed"] is False
    assert bola["replayed"] is False
    assert ada["payment"]["id"] != bola["payment"]["id"]
    assert ada["wallet"]["balance"]["amount"] == "35000.00"
    assert bola["wallet"]["balance"]["amount"] == "500.00"
    assert (await snapshot(db))["payments"] == [(2,)]
