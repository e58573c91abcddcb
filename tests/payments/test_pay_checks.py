"""The whole check table of a payment (docs/design.md "The checks, in order"), run once
against the service (`app.payments.pay_invoice`) on both backends, each case named by the
`Check` it fails: the exact domain error with its data, and nothing written. The edges
prove only their mapping, one case a union member (tests/api/graphql/test_pay_errors.py)
or a status row (tests/api/rest/test_rest_pay.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app import errors
from app.db.engine import Database
from app.payments import Check, PayInvoice, pay_invoice
from tests.support import (
    BOLAS,
    DEMO_CLONE,
    ELSEWHERE,
    MISSING,
    OPEN,
    PAID,
    VOIDED,
    YEN,
    World,
    given_books,
    snapshot,
)

NGN_DUE = 500_000  # OPEN's 5000.00 in minor units
YEN_DUE = 5_000  # YEN's 5000 (JPY has no minor unit)
FROM_USD: dict[str, Any] = {"wallet_currency": "USD"}


def wrong(reason: str, number: int = OPEN) -> errors.WrongAmount:
    if number == YEN:
        return errors.WrongAmount(reason, "JPY", YEN_DUE)
    return errors.WrongAmount(reason, "NGN", NGN_DUE)


def case(check: Check, name: str, who: str, request: dict[str, Any], error: Any) -> Any:
    return pytest.param(check, who, request, error, id=f"{check.name}: {name}")


def pay(number: int, currency: str = "NGN", **fields: Any) -> dict[str, Any]:
    return {"invoice_number": number, "currency": currency, **fields}


def amount(value: str, number: int = OPEN, **fields: Any) -> dict[str, Any]:
    currency = "JPY" if number == YEN else "NGN"
    return pay(number, currency, amount=Decimal(value), **fields)


def rate(value: str, **fields: Any) -> dict[str, Any]:
    return pay(OPEN, **{**FROM_USD, "exchange_rate": Decimal(value), **fields})


CHECKS = [
    case(
        Check.USER_NOT_FOUND,
        "an admin is not a customer",
        "admin",
        pay(OPEN),
        errors.UserNotFound(),
    ),
    case(
        Check.CURRENCY_NOT_FOUND,
        "currency",
        "ada",
        pay(OPEN, "ZZZ"),
        errors.CurrencyNotFound("ZZZ"),
    ),
    case(
        Check.CURRENCY_NOT_FOUND,
        "lower-case currency",
        "ada",
        pay(OPEN, "ngn"),
        errors.CurrencyNotFound("ngn"),
    ),
    case(
        Check.CURRENCY_NOT_FOUND,
        "wallet currency",
        "ada",
        pay(OPEN, wallet_currency="QQQ", exchange_rate=Decimal(2)),
        errors.CurrencyNotFound("QQQ"),
    ),
    case(Check.INVOICE_NOT_FOUND, "unknown", "ada", pay(MISSING), errors.InvoiceNotFound(MISSING)),
    case(
        Check.INVOICE_NOT_FOUND,
        "the other tenant's",
        "ada",
        pay(ELSEWHERE),
        errors.InvoiceNotFound(ELSEWHERE),
    ),
    case(
        Check.INVOICE_OWNERSHIP_MISMATCH,
        "another customer's invoice",
        "ada",
        pay(BOLAS),
        errors.InvoiceOwnershipMismatch(BOLAS),
    ),
    case(
        Check.CURRENCY_MISMATCH,
        "USD for NGN",
        "ada",
        pay(OPEN, "USD"),
        errors.CurrencyMismatch("NGN", "USD"),
    ),
    case(Check.INVOICE_ALREADY_PAID, "paid", "ada", pay(PAID), errors.InvoiceAlreadyPaid(PAID)),
    case(Check.INVOICE_ALREADY_PAID, "void", "ada", pay(VOIDED), errors.InvoiceVoid(VOIDED)),
    case(
        Check.WALLET_NOT_FOUND,
        "no EUR wallet",
        "ada",
        pay(OPEN, wallet_currency="EUR", exchange_rate=Decimal(1600)),
        errors.WalletNotFound("EUR"),
    ),
    case(Check.WRONG_AMOUNT, "zero", "ada", amount("0"), wrong("NOT_POSITIVE")),
    case(Check.WRONG_AMOUNT, "negative", "ada", amount("-5.00"), wrong("NOT_POSITIVE")),
    case(
        Check.WRONG_AMOUNT, "over balance", "ada", amount("5000.01"), wrong("EXCEEDS_BALANCE_DUE")
    ),
    case(Check.WRONG_AMOUNT, "3 decimals in NGN", "ada", amount("1.001"), wrong("TOO_PRECISE")),
    case(
        Check.WRONG_AMOUNT, "decimals in JPY", "ada", amount("1.5", YEN), wrong("TOO_PRECISE", YEN)
    ),
    case(Check.WRONG_AMOUNT, "over max minor", "ada", amount("10000000000001"), wrong("TOO_LARGE")),
    case(Check.WRONG_AMOUNT, "24 digits", "ada", amount("9" * 24), wrong("TOO_LARGE")),
    case(
        Check.WRONG_AMOUNT,
        "debit over max minor",
        "ada",
        rate("0.000000000001", amount=Decimal(1000)),
        wrong("TOO_LARGE"),
    ),
    case(
        Check.WRONG_AMOUNT,
        "same currency rate",
        "ada",
        pay(OPEN, exchange_rate=Decimal(2)),
        wrong("INVALID_EXCHANGE_RATE"),
    ),
    case(
        Check.WRONG_AMOUNT,
        "rate missing",
        "ada",
        pay(OPEN, **FROM_USD),
        wrong("INVALID_EXCHANGE_RATE"),
    ),
    case(Check.WRONG_AMOUNT, "rate 0", "ada", rate("0"), wrong("INVALID_EXCHANGE_RATE")),
    case(Check.WRONG_AMOUNT, "rate negative", "ada", rate("-1500"), wrong("INVALID_EXCHANGE_RATE")),
    case(
        Check.WRONG_AMOUNT, "rate huge", "ada", rate("1000000001"), wrong("INVALID_EXCHANGE_RATE")
    ),
    case(
        Check.WRONG_AMOUNT,
        "rate too precise",
        "ada",
        rate("0.0000000000001"),
        wrong("INVALID_EXCHANGE_RATE"),
    ),
    case(
        Check.WRONG_AMOUNT,
        "stale balance due",
        "ada",
        pay(OPEN, expected_balance_due=Decimal("4999.99")),
        wrong("STALE_BALANCE_DUE"),
    ),
    case(
        Check.WRONG_AMOUNT,
        "no discount terms",
        "ada",
        pay(OPEN, apply_early_payment_discount=True),
        wrong("DISCOUNT_NOT_APPLICABLE"),
    ),
    case(
        Check.INSUFFICIENT_FUNDS,
        "Bola's 1000 for 2500",
        "bola",
        pay(BOLAS),
        errors.InsufficientFunds("NGN", 100_000, 250_000),
    ),
    case(
        Check.INSUFFICIENT_FUNDS,
        "1250 USD from 500, in the paying wallet's currency",
        "ada",
        rate("4"),
        errors.InsufficientFunds("USD", 50_000, 125_000),
    ),
]

# A request failing two checks gets the earlier one (named: the check that decides).
ORDER = [
    case(
        Check.USER_NOT_FOUND,
        "before CURRENCY_NOT_FOUND",
        "admin",
        pay(OPEN, "ZZZ"),
        errors.UserNotFound(),
    ),
    case(
        Check.CURRENCY_NOT_FOUND,
        "before INVOICE_OWNERSHIP_MISMATCH",
        "ada",
        pay(BOLAS, "ZZZ"),
        errors.CurrencyNotFound("ZZZ"),
    ),
    case(
        Check.INVOICE_NOT_FOUND,
        "before CURRENCY_MISMATCH",
        "ada",
        pay(MISSING, "USD"),
        errors.InvoiceNotFound(MISSING),
    ),
    case(
        Check.INVOICE_OWNERSHIP_MISMATCH,
        "before CURRENCY_MISMATCH",
        "ada",
        pay(BOLAS, "USD"),
        errors.InvoiceOwnershipMismatch(BOLAS),
    ),
    case(
        Check.CURRENCY_MISMATCH,
        "before INVOICE_ALREADY_PAID",
        "ada",
        pay(PAID, "USD"),
        errors.CurrencyMismatch("NGN", "USD"),
    ),
    case(
        Check.INVOICE_ALREADY_PAID,
        "before WRONG_AMOUNT",
        "ada",
        pay(PAID, amount=Decimal(999999)),
        errors.InvoiceAlreadyPaid(PAID),
    ),
    case(
        Check.INVOICE_ALREADY_PAID,
        "void before WALLET_NOT_FOUND",
        "ada",
        pay(VOIDED, wallet_currency="EUR"),
        errors.InvoiceVoid(VOIDED),
    ),
    case(
        Check.WALLET_NOT_FOUND,
        "before WRONG_AMOUNT",
        "ada",
        pay(OPEN, wallet_currency="EUR", amount=Decimal(0)),
        errors.WalletNotFound("EUR"),
    ),
    case(
        Check.WRONG_AMOUNT,
        "before INSUFFICIENT_FUNDS",
        "bola",
        pay(BOLAS, amount=Decimal("2000.001")),
        errors.WrongAmount("TOO_PRECISE", "NGN", 250_000),
    ),
]


def command(world: World, who: str, request: dict[str, Any]) -> PayInvoice:
    customer = {"ada": world.ada, "bola": world.bola, "admin": ""}[who]
    return PayInvoice(tenant_id=DEMO_CLONE, customer_id=customer, **request)


async def refused(db: Database, paying: PayInvoice) -> errors.DomainError:
    """Pay; prove it raised a domain error and wrote nothing money-related; the error."""
    before = await snapshot(db)
    with pytest.raises(errors.DomainError) as raised:
        await pay_invoice(db, paying)
    assert await snapshot(db) == before
    return raised.value


@pytest.mark.parametrize(("check", "who", "request_", "expected"), CHECKS + ORDER)
async def test_each_check_refuses_with_its_error_and_writes_nothing(
    db: Database, check: Check, who: str, request_: dict[str, Any], expected: errors.DomainError
) -> None:
    # given the books (tests/support/world.py)
    world = await given_books(db)
    # when a payment fails the check (or two: the earlier decides)
    error = await refused(db, command(world, who, request_))
    # then exactly that check's error, with its data, and nothing written
    assert error == expected
    assert Check.of(error) is check


async def test_a_stale_balance_due_reports_the_current_one(db: Database) -> None:
    # given Ada paid 1000 of her 5000 invoice, leaving 4000 due
    world = await given_books(db)
    await pay_invoice(db, PayInvoice(DEMO_CLONE, world.ada, OPEN, "NGN", Decimal("1000")))
    # when she pays the rest expecting the 5000 she saw before
    paying = command(world, "ada", pay(OPEN, expected_balance_due=Decimal("5000.00")))
    # then WrongAmount STALE_BALANCE_DUE tells her it is 4000 now
    assert await refused(db, paying) == errors.WrongAmount("STALE_BALANCE_DUE", "NGN", 400_000)


async def test_check_idempotency_key_reused_with_other_parameters(db: Database) -> None:
    # given Ada paid 1000 of her invoice with key "k-1"
    world = await given_books(db)
    first = command(world, "ada", pay(OPEN, amount=Decimal(1000), idempotency_key="k-1"))
    await pay_invoice(db, first)
    # when she sends "k-1" again for another amount
    error = await refused(
        db, command(world, "ada", pay(OPEN, amount=Decimal(2000), idempotency_key="k-1"))
    )
    # then IdempotencyKeyReused names the key
    assert error == errors.IdempotencyKeyReused("k-1")
    assert Check.of(error) is Check.IDEMPOTENCY_KEY_REUSED


async def test_check_insufficient_funds_comes_before_a_reused_key(db: Database) -> None:
    # given Bola's key "k-1" already used for a 500 payment
    world = await given_books(db)
    await pay_invoice(
        db, command(world, "bola", pay(BOLAS, amount=Decimal(500), idempotency_key="k-1"))
    )
    # when he reuses it to pay the 2000 left with the 500 he has left
    error = await refused(
        db, command(world, "bola", pay(BOLAS, amount=Decimal(2000), idempotency_key="k-1"))
    )
    # then Check.INSUFFICIENT_FUNDS wins over Check.IDEMPOTENCY_KEY_REUSED
    assert error == errors.InsufficientFunds("NGN", 50_000, 200_000)
    assert Check.of(error) is Check.INSUFFICIENT_FUNDS
