"""payInvoice's typed errors through GraphQL, on both backends: each union member of
DESIGN.md's check table, with its code, message and data; the order of the checks (a
request failing two gets the earlier one); and a refused request writes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.api.graphql.errors import ErrorCode, mapped_errors
from app.api.graphql.schema import schema
from app.billing import admin
from app.db.engine import Database
from app.errors import ERROR_TYPES
from app.payments import PayInvoice, pay_invoice
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    World,
    client_for,
    gql,
    invoice,
    make_world,
    pay_through_graphql,
    snapshot,
)

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on Error { message code }
    ... on PayInvoiceSuccess { replayed payment { id amount { amount currency } } }
    ... on CurrencyNotFound { currency }
    ... on InvoiceNotFound { number }
    ... on InvoiceOwnershipMismatch { number }
    ... on CurrencyMismatch { expected received }
    ... on InvoiceAlreadyPaid { number }
    ... on InvoiceVoid { number }
    ... on WalletNotFound { currency }
    ... on WrongAmount { reason balanceDue { amount currency } }
    ... on InsufficientFunds { balance { amount currency } required { amount currency } }
    ... on IdempotencyKeyReused { key }
  }
}
"""

UNION_MEMBERS = """
{
  result: __type(name: "PayInvoiceResult") { possibleTypes { name } }
  error: __type(name: "Error") { possibleTypes { name } }
}
"""

# The union members of DESIGN.md's check table, with their code and message.
EXPECTED: dict[str, tuple[str, str]] = {
    "UserNotFound": ("USER_NOT_FOUND", "User not found"),
    "CurrencyNotFound": ("CURRENCY_NOT_FOUND", "Currency not found"),
    "InvoiceNotFound": ("INVOICE_NOT_FOUND", "Invoice not found"),
    "InvoiceOwnershipMismatch": (
        "INVOICE_OWNERSHIP_MISMATCH",
        "Customer Invoice does not match expected credentials",
    ),
    "CurrencyMismatch": ("CURRENCY_MISMATCH", "Currency does not match expected credentials"),
    "InvoiceAlreadyPaid": ("INVOICE_ALREADY_PAID", "Invoice already paid"),
    "InvoiceVoid": ("INVOICE_VOID", "Invoice is void"),
    "WalletNotFound": ("WALLET_NOT_FOUND", "Wallet not found"),
    "WrongAmount": ("WRONG_AMOUNT", "Wrong Amount"),
    "InsufficientFunds": ("INSUFFICIENT_FUNDS", "Insufficient funds"),
    "IdempotencyKeyReused": (
        "IDEMPOTENCY_KEY_REUSED",
        "Idempotency key reused with different parameters",
    ),
}

OPEN = 100  # Ada's NGN invoice of 5000.00, unpaid
YEN = 101  # Ada's JPY invoice of 5000, unpaid
BOLAS = 200  # Bola's NGN invoice of 2500.00 (Bola's wallet holds 1000.00)
PAID = 300  # Ada's NGN invoice of 1000.00, paid
VOIDED = 400  # Ada's NGN invoice of 1000.00, void
ELSEWHERE = 900  # Sam's NGN invoice in the other tenant
MISSING = 999  # no invoice has this number in any tenant


async def given_books(db: Database) -> World:
    """make_world, plus a JPY wallet of 10000 for Ada and the invoices above."""
    world = await make_world(db)
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "JPY", Decimal("10000"))
    await invoice(db, OPEN, world.ada, "5000")
    await invoice(db, YEN, world.ada, "5000", "JPY")
    await invoice(db, BOLAS, world.bola, "2500")
    await invoice(db, PAID, world.ada, "1000")
    await pay_invoice(db, PayInvoice(DEMO_CLONE, world.ada, PAID, "NGN"))
    await invoice(db, VOIDED, world.ada, "1000")
    await admin.void_invoice(db, DEMO_CLONE, VOIDED)
    await invoice(db, ELSEWHERE, world.stranger, "100", tenant_id=OTHER_CLONE)
    return world


async def refused(db: Database, token: str, request: dict[str, Any]) -> dict[str, Any]:
    """Send `request` as `token`; prove nothing money-related was written; the answer."""
    before = await snapshot(db)
    async with client_for(db) as client:
        answer = await pay_through_graphql(client, PAY, token, request)
    assert await snapshot(db) == before
    return answer


def assert_error(answer: dict[str, Any], typename: str) -> None:
    code, message = EXPECTED[typename]
    assert answer["__typename"] == typename, answer
    assert (answer["code"], answer["message"]) == (code, message)


async def test_every_domain_error_is_mapped_to_a_graphql_error_type_of_its_name() -> None:
    # given the domain's error classes and the GraphQL edge's one table
    mapped = mapped_errors()
    result = await schema.execute(UNION_MEMBERS)
    assert result.errors is None and result.data is not None
    error_types = {t["name"] for t in result.data["error"]["possibleTypes"]}
    # then every class has an entry, a type of the same name and a code
    for name, cls in ERROR_TYPES.items():
        assert cls in mapped, name
        assert name in error_types, name
        assert ErrorCode(cls.code).value == cls.code
    # and PayInvoiceResult is exactly DESIGN.md's union
    members = {t["name"] for t in result.data["result"]["possibleTypes"]}
    assert members == {"PayInvoiceSuccess", *EXPECTED}


async def test_an_admin_is_not_a_customer_so_the_user_is_not_found(db: Database) -> None:
    # given an admin token of the tenant (admins are not customers)
    world = await given_books(db)
    # when it pays Ada's invoice
    answer = await refused(db, world.admin_token, {"invoiceNumber": OPEN, "currency": "NGN"})
    # then UserNotFound
    assert_error(answer, "UserNotFound")


@pytest.mark.parametrize(
    ("request_", "unknown"),
    [
        pytest.param({"currency": "ZZZ"}, "ZZZ", id="currency"),
        pytest.param({"currency": "ngn"}, "ngn", id="lower-case currency"),
        pytest.param(
            {"currency": "NGN", "walletCurrency": "QQQ", "exchangeRate": "2"},
            "QQQ",
            id="walletCurrency",
        ),
    ],
)
async def test_an_unknown_currency_is_not_found(
    db: Database, request_: dict[str, Any], unknown: str
) -> None:
    # given Ada's open NGN invoice
    world = await given_books(db)
    # when she names a currency ISO 4217 does not know
    answer = await refused(db, world.ada_token, {"invoiceNumber": OPEN, **request_})
    # then CurrencyNotFound names it
    assert_error(answer, "CurrencyNotFound")
    assert answer["currency"] == unknown


@pytest.mark.parametrize("number", [MISSING, ELSEWHERE], ids=["unknown", "other tenant's"])
async def test_an_invoice_number_not_in_the_tenant_is_not_found(db: Database, number: int) -> None:
    # given invoice ELSEWHERE exists, but only in the other tenant
    world = await given_books(db)
    # when Ada pays that number, or one nobody has
    answer = await refused(db, world.ada_token, {"invoiceNumber": number, "currency": "NGN"})
    # then InvoiceNotFound, exactly as if it did not exist at all
    assert_error(answer, "InvoiceNotFound")
    assert answer["number"] == number


async def test_paying_another_customers_invoice_is_an_ownership_mismatch(db: Database) -> None:
    # given Bola's invoice
    world = await given_books(db)
    # when Ada pays it with her token
    answer = await refused(db, world.ada_token, {"invoiceNumber": BOLAS, "currency": "NGN"})
    # then InvoiceOwnershipMismatch
    assert_error(answer, "InvoiceOwnershipMismatch")
    assert answer["number"] == BOLAS


async def test_a_currency_other_than_the_invoices_is_a_mismatch(db: Database) -> None:
    # given Ada's NGN invoice
    world = await given_books(db)
    # when she pays it in USD
    answer = await refused(db, world.ada_token, {"invoiceNumber": OPEN, "currency": "USD"})
    # then CurrencyMismatch says what was expected and what came
    assert_error(answer, "CurrencyMismatch")
    assert (answer["expected"], answer["received"]) == ("NGN", "USD")


async def test_a_paid_invoice_cannot_be_paid_again(db: Database) -> None:
    # given Ada's paid invoice
    world = await given_books(db)
    # when she pays it again
    answer = await refused(db, world.ada_token, {"invoiceNumber": PAID, "currency": "NGN"})
    # then InvoiceAlreadyPaid
    assert_error(answer, "InvoiceAlreadyPaid")
    assert answer["number"] == PAID


async def test_a_void_invoice_cannot_be_paid(db: Database) -> None:
    # given Ada's invoice voided by an admin
    world = await given_books(db)
    # when she pays it
    answer = await refused(db, world.ada_token, {"invoiceNumber": VOIDED, "currency": "NGN"})
    # then InvoiceVoid
    assert_error(answer, "InvoiceVoid")
    assert answer["number"] == VOIDED


async def test_a_wallet_the_customer_does_not_have_is_not_found(db: Database) -> None:
    # given Ada has NGN, USD and JPY wallets but no EUR wallet
    world = await given_books(db)
    # when she pays her NGN invoice from EUR at a valid rate
    request = {"invoiceNumber": OPEN, "currency": "NGN", "walletCurrency": "EUR"}
    answer = await refused(db, world.ada_token, {**request, "exchangeRate": "1600"})
    # then WalletNotFound names the currency
    assert_error(answer, "WalletNotFound")
    assert answer["currency"] == "EUR"


FROM_USD = {"walletCurrency": "USD"}

WRONG_AMOUNTS = [
    pytest.param(OPEN, {"amount": "0"}, "NOT_POSITIVE", id="zero"),
    pytest.param(OPEN, {"amount": "-5.00"}, "NOT_POSITIVE", id="negative"),
    pytest.param(OPEN, {"amount": "5000.01"}, "EXCEEDS_BALANCE_DUE", id="over balance"),
    pytest.param(OPEN, {"amount": "1.001"}, "TOO_PRECISE", id="3 decimals in NGN"),
    pytest.param(YEN, {"amount": "1.5"}, "TOO_PRECISE", id="decimals in JPY"),
    pytest.param(OPEN, {"amount": "10000000000001"}, "TOO_LARGE", id="over max minor"),
    pytest.param(OPEN, {"amount": "9" * 24}, "TOO_LARGE", id="24 digits"),
    pytest.param(
        OPEN,
        {"amount": "1000", **FROM_USD, "exchangeRate": "0.000000000001"},
        "TOO_LARGE",
        id="debit over max minor",
    ),
    pytest.param(OPEN, {"exchangeRate": "2"}, "INVALID_EXCHANGE_RATE", id="same currency rate"),
    pytest.param(OPEN, FROM_USD, "INVALID_EXCHANGE_RATE", id="rate missing"),
    pytest.param(OPEN, {**FROM_USD, "exchangeRate": "0"}, "INVALID_EXCHANGE_RATE", id="rate 0"),
    pytest.param(
        OPEN, {**FROM_USD, "exchangeRate": "-1500"}, "INVALID_EXCHANGE_RATE", id="rate negative"
    ),
    pytest.param(
        OPEN, {**FROM_USD, "exchangeRate": "1000000001"}, "INVALID_EXCHANGE_RATE", id="rate huge"
    ),
    pytest.param(
        OPEN,
        {**FROM_USD, "exchangeRate": "0.0000000000001"},
        "INVALID_EXCHANGE_RATE",
        id="rate too precise",
    ),
    pytest.param(
        OPEN, {"expectedBalanceDue": "4999.99"}, "STALE_BALANCE_DUE", id="stale balance due"
    ),
    pytest.param(
        OPEN,
        {"applyEarlyPaymentDiscount": True},
        "DISCOUNT_NOT_APPLICABLE",
        id="no discount terms",
    ),
]


@pytest.mark.parametrize(("number", "request_", "reason"), WRONG_AMOUNTS)
async def test_a_wrong_amount_is_refused_with_its_reason(
    db: Database, number: int, request_: dict[str, Any], reason: str
) -> None:
    # given Ada's open invoices of 5000 NGN and 5000 JPY, and wallets to pay them
    world = await given_books(db)
    currency = "JPY" if number == YEN else "NGN"
    # when she pays with a wrong amount, rate, expectation or discount claim
    answer = await refused(
        db, world.ada_token, {"invoiceNumber": number, "currency": currency, **request_}
    )
    # then WrongAmount gives the reason and the balance due, in the invoice's decimals
    assert_error(answer, "WrongAmount")
    assert answer["reason"] == reason
    due = "5000" if currency == "JPY" else "5000.00"
    assert answer["balanceDue"] == {"amount": due, "currency": currency}


async def test_a_stale_balance_due_reports_the_current_one(db: Database) -> None:
    # given Ada paid 1000 of her 5000 invoice, leaving 4000 due
    world = await given_books(db)
    await pay_invoice(db, PayInvoice(DEMO_CLONE, world.ada, OPEN, "NGN", Decimal("1000")))
    # when she pays the rest expecting the 5000 she saw before
    request = {"invoiceNumber": OPEN, "currency": "NGN", "expectedBalanceDue": "5000.00"}
    answer = await refused(db, world.ada_token, request)
    # then WrongAmount STALE_BALANCE_DUE tells her it is 4000 now
    assert_error(answer, "WrongAmount")
    assert answer["reason"] == "STALE_BALANCE_DUE"
    assert answer["balanceDue"] == {"amount": "4000.00", "currency": "NGN"}


async def test_insufficient_funds_gives_the_balance_and_the_debit_required(db: Database) -> None:
    # given Bola's invoice of 2500 and his NGN wallet of 1000
    world = await given_books(db)
    # when he pays it in full
    answer = await refused(db, world.bola_token, {"invoiceNumber": BOLAS, "currency": "NGN"})
    # then InsufficientFunds shows what he has and what it takes
    assert_error(answer, "InsufficientFunds")
    assert answer["balance"] == {"amount": "1000.00", "currency": "NGN"}
    assert answer["required"] == {"amount": "2500.00", "currency": "NGN"}


async def test_insufficient_funds_is_in_the_paying_wallets_currency(db: Database) -> None:
    # given Ada's USD wallet of 500 and her NGN invoice of 5000
    world = await given_books(db)
    # when she pays it from USD at 4 NGN per USD (a 1250 USD debit)
    request = {"invoiceNumber": OPEN, "currency": "NGN", **FROM_USD, "exchangeRate": "4"}
    answer = await refused(db, world.ada_token, request)
    # then balance and required are USD
    assert_error(answer, "InsufficientFunds")
    assert answer["balance"] == {"amount": "500.00", "currency": "USD"}
    assert answer["required"] == {"amount": "1250.00", "currency": "USD"}


async def test_a_key_reused_with_other_parameters_is_refused(db: Database) -> None:
    # given Ada paid 1000 of her invoice with key "k-1"
    world = await given_books(db)
    first = {"invoiceNumber": OPEN, "currency": "NGN", "amount": "1000", "idempotencyKey": "k-1"}
    async with client_for(db) as client:
        paid = await pay_through_graphql(client, PAY, world.ada_token, first)
    assert paid["__typename"] == "PayInvoiceSuccess"
    # when she sends "k-1" again for another amount
    answer = await refused(db, world.ada_token, {**first, "amount": "2000"})
    # then IdempotencyKeyReused names the key
    assert_error(answer, "IdempotencyKeyReused")
    assert answer["key"] == "k-1"


ORDER_CASES = [
    pytest.param(
        "admin_token", {"invoiceNumber": OPEN, "currency": "ZZZ"}, "UserNotFound", id="5 before 6"
    ),
    pytest.param(
        "ada_token",
        {"invoiceNumber": BOLAS, "currency": "ZZZ"},
        "CurrencyNotFound",
        id="6 before 8: unknown currency on another customer's invoice",
    ),
    pytest.param(
        "ada_token",
        {"invoiceNumber": MISSING, "currency": "USD"},
        "InvoiceNotFound",
        id="7 before 9",
    ),
    pytest.param(
        "ada_token",
        {"invoiceNumber": BOLAS, "currency": "USD"},
        "InvoiceOwnershipMismatch",
        id="8 before 9: another customer's invoice in the wrong currency",
    ),
    pytest.param(
        "ada_token",
        {"invoiceNumber": PAID, "currency": "USD"},
        "CurrencyMismatch",
        id="9 before 10",
    ),
    pytest.param(
        "ada_token",
        {"invoiceNumber": PAID, "currency": "NGN", "amount": "999999"},
        "InvoiceAlreadyPaid",
        id="10 before 12: paid invoice with an over-large amount",
    ),
    pytest.param(
        "ada_token",
        {"invoiceNumber": VOIDED, "currency": "NGN", "walletCurrency": "EUR"},
        "InvoiceVoid",
        id="10 before 11: void invoice from a missing wallet",
    ),
    pytest.param(
        "ada_token",
        {"invoiceNumber": OPEN, "currency": "NGN", "walletCurrency": "EUR", "amount": "0"},
        "WalletNotFound",
        id="11 before 12: missing wallet and bad amount",
    ),
    pytest.param(
        "bola_token",
        {"invoiceNumber": BOLAS, "currency": "NGN", "amount": "2000.001"},
        "WrongAmount",
        id="12 before 13: bad amount and too little money",
    ),
]


@pytest.mark.parametrize(("token", "request_", "typename"), ORDER_CASES)
async def test_a_request_failing_two_checks_gets_the_earlier_error(
    db: Database, token: str, request_: dict[str, Any], typename: str
) -> None:
    # given the books
    world = await given_books(db)
    # when a request fails two checks of DESIGN.md's table
    answer = await refused(db, getattr(world, token), request_)
    # then the one that comes first in the table decides
    assert_error(answer, typename)


async def test_too_little_money_is_reported_before_a_reused_key(db: Database) -> None:
    # given Bola's key "k-1" already used for a 500 payment
    world = await given_books(db)
    first = {"invoiceNumber": BOLAS, "currency": "NGN", "amount": "500", "idempotencyKey": "k-1"}
    async with client_for(db) as client:
        paid = await pay_through_graphql(client, PAY, world.bola_token, first)
    assert paid["__typename"] == "PayInvoiceSuccess"
    # when he reuses it to pay the 2000 left with the 500 he has left
    answer = await refused(db, world.bola_token, {**first, "amount": "2000"})
    # then InsufficientFunds (Check.INSUFFICIENT_FUNDS) wins over IdempotencyKeyReused
    # (Check.IDEMPOTENCY_KEY_REUSED)
    assert_error(answer, "InsufficientFunds")


async def test_a_clone_id_other_than_the_tokens_tenant_is_forbidden(db: Database) -> None:
    # given Ada's open invoice in the demo tenant
    world = await given_books(db)
    before = await snapshot(db)
    # when she names the other tenant as cloneId
    request = {"invoiceNumber": OPEN, "currency": "NGN", "cloneId": OTHER_CLONE}
    async with client_for(db) as client:
        result = await gql(client, PAY, {"input": request}, world.ada_token)
    # then a top-level FORBIDDEN error, no union member, nothing written
    assert result["data"] is None
    [error] = result["errors"]
    assert (error["message"], error["extensions"]["code"]) == ("Access denied", "FORBIDDEN")
    assert await snapshot(db) == before
    # and her own tenant's cloneId is accepted
    async with client_for(db) as client:
        paid = await pay_through_graphql(
            client, PAY, world.ada_token, {**request, "cloneId": DEMO_CLONE}
        )
    assert paid["__typename"] == "PayInvoiceSuccess", paid


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"idempotencyKey": "   "}, id="blank key"),
        pytest.param({"idempotencyKey": "k" * 201}, id="key too long"),
        pytest.param({"reference": "r" * 201}, id="reference too long"),
        pytest.param({"memo": "m" * 1001}, id="memo too long"),
    ],
)
async def test_a_malformed_parameter_is_a_bad_input_error(
    db: Database, request_: dict[str, Any]
) -> None:
    # given Ada's open invoice
    world = await given_books(db)
    before = await snapshot(db)
    # when a parameter is malformed in a way the schema cannot express (Check.INVALID_REQUEST)
    request = {"invoiceNumber": OPEN, "currency": "NGN", **request_}
    async with client_for(db) as client:
        result = await gql(client, PAY, {"input": request}, world.ada_token)
    # then a top-level BAD_USER_INPUT error, and nothing written
    assert result["data"] is None
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert await snapshot(db) == before
