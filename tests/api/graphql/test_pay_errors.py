"""payInvoice's typed errors at the GraphQL edge, on both backends: one case a union member
of the check table, with its type name, code, message and data, and nothing written. The
whole table (every case, the order of the checks) runs once against the service in
tests/payments/test_pay_checks.py."""

from __future__ import annotations

from typing import Any

import pytest

from app.api.graphql.errors import ErrorCode, mapped_errors
from app.api.graphql.schema import schema
from app.db.engine import Database
from app.errors import ERROR_TYPES
from tests.support import (
    BOLAS,
    DEMO_CLONE,
    ELSEWHERE,
    OPEN,
    OTHER_CLONE,
    PAID,
    PAY,
    VOIDED,
    YEN,
    client_for,
    given_books,
    gql,
    pay_through_graphql,
    snapshot,
)

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


# Invoices Ada cannot pay, by number: each refusal names the number back.
INVOICE_REFUSALS = [
    # only in the other tenant: exactly as if it did not exist at all
    pytest.param(ELSEWHERE, "InvoiceNotFound", id="InvoiceNotFound (another tenant's)"),
    pytest.param(BOLAS, "InvoiceOwnershipMismatch", id="InvoiceOwnershipMismatch (Bola's)"),
    pytest.param(PAID, "InvoiceAlreadyPaid", id="InvoiceAlreadyPaid"),
    pytest.param(VOIDED, "InvoiceVoid", id="InvoiceVoid (voided by an admin)"),
]


@pytest.mark.parametrize(("number", "typename"), INVOICE_REFUSALS)
async def test_an_invoice_she_cannot_pay_is_refused_by_its_number(
    db: Database, number: int, typename: str
) -> None:
    # given the books
    world = await given_books(db)
    # when Ada pays the invoice
    answer = await refused(db, world.ada_token, {"invoiceNumber": number, "currency": "NGN"})
    # then the refusal of its kind, naming the number
    assert_error(answer, typename)
    assert answer["number"] == number


async def test_a_currency_other_than_the_invoices_is_a_mismatch(db: Database) -> None:
    # given Ada's NGN invoice
    world = await given_books(db)
    # when she pays it in USD
    answer = await refused(db, world.ada_token, {"invoiceNumber": OPEN, "currency": "USD"})
    # then CurrencyMismatch says what was expected and what came
    assert_error(answer, "CurrencyMismatch")
    assert (answer["expected"], answer["received"]) == ("NGN", "USD")


async def test_a_wallet_the_customer_does_not_have_is_not_found(db: Database) -> None:
    # given Ada has NGN, USD and JPY wallets but no EUR wallet
    world = await given_books(db)
    # when she pays her NGN invoice from EUR at a valid rate
    request = {"invoiceNumber": OPEN, "currency": "NGN", "walletCurrency": "EUR"}
    answer = await refused(db, world.ada_token, {**request, "exchangeRate": "1600"})
    # then WalletNotFound names the currency
    assert_error(answer, "WalletNotFound")
    assert answer["currency"] == "EUR"


WRONG_AMOUNTS = [
    pytest.param(YEN, {"amount": "1.5"}, "TOO_PRECISE", id="decimals in JPY"),
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


async def test_insufficient_funds_gives_the_balance_and_the_debit_required(db: Database) -> None:
    # given Bola's invoice of 2500 and his NGN wallet of 1000
    world = await given_books(db)
    # when he pays it in full
    answer = await refused(db, world.bola_token, {"invoiceNumber": BOLAS, "currency": "NGN"})
    # then InsufficientFunds shows what he has and what it takes
    assert_error(answer, "InsufficientFunds")
    assert answer["balance"] == {"amount": "1000.00", "currency": "NGN"}
    assert answer["required"] == {"amount": "2500.00", "currency": "NGN"}


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
