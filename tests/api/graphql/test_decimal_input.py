"""The `Decimal` scalar at the GraphQL edge, on both backends: only plain decimal strings
come in (never floats, exponents, NaN or Infinity), and amounts go out as strings with
exactly their currency's decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.billing import admin
from app.db.engine import Database
from tests.support import (
    DEMO_CLONE,
    PAY,
    client_for,
    invoice,
    make_world,
    pay_with,
    snapshot,
)

# An amount written into the document itself, not passed as a variable.
PAY_LITERAL = """
mutation {
  payInvoice(input: {invoiceNumber: 100123, currency: "NGN", amount: %s}) { __typename }
}
"""

NOT_DECIMALS = [
    pytest.param(50.5, id="JSON float"),
    pytest.param(1e5, id="JSON float in exponent form"),
    pytest.param(True, id="JSON boolean"),
    pytest.param("NaN", id="NaN"),
    pytest.param("Infinity", id="Infinity"),
    pytest.param("-Infinity", id="-Infinity"),
    pytest.param("1e5", id="exponent"),
    pytest.param("", id="empty"),
    pytest.param("abc", id="letters"),
    pytest.param("1,000", id="thousands separator"),
    pytest.param(" 5000", id="leading space"),
    pytest.param("5000.", id="trailing point"),
    pytest.param("+5000", id="plus sign"),
]


async def post(client: httpx.AsyncClient, token: str, query: str, **variables: Any) -> Any:
    """POST a document; prove it was answered as a request error, never a 500."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code != 500, response.text
    return response.json()


async def given_invoice_100123(db: Database) -> str:
    """Ada's invoice 100123 of 15000 NGN; her token."""
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    return world.ada_token


@pytest.mark.parametrize("value", NOT_DECIMALS)
@pytest.mark.parametrize("field", ["amount", "exchangeRate", "expectedBalanceDue"])
async def test_a_variable_that_is_not_a_decimal_string_is_rejected(
    db: Database, field: str, value: Any
) -> None:
    # given Ada's invoice
    token = await given_invoice_100123(db)
    before = await snapshot(db)
    # when a Decimal input comes as something other than a plain decimal string
    request = {"invoiceNumber": 100123, "currency": "NGN", field: value}
    async with client_for(db) as client:
        body = await post(client, token, PAY, input=request)
    # then a GraphQL error names the Decimal type, no data, nothing written
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert "Decimal" in error["message"], error
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await snapshot(db) == before


# Other scripts' digits, as GraphQL string escapes: Arabic-Indic 10, fullwidth 10.
OTHER_DIGITS = ['"\\u0661\\u0660"', '"\\uff11\\uff10.00"']


@pytest.mark.parametrize(
    "literal", ["50.5", "true", '"NaN"', '"1e5"', '"1,000"', '""', *OTHER_DIGITS]
)
async def test_a_literal_that_is_not_a_decimal_string_is_a_validation_error(
    db: Database, literal: str
) -> None:
    # given Ada's invoice
    token = await given_invoice_100123(db)
    before = await snapshot(db)
    # when the document itself holds a float, a boolean or a malformed string as the amount
    async with client_for(db) as client:
        body = await post(client, token, PAY_LITERAL % literal)
    # then it is a validation error about the Decimal (not a masked "Unexpected Error")
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert "Decimal" in error["message"], error
    assert error["message"] != "Unexpected Error"
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await snapshot(db) == before


@pytest.mark.parametrize("amount", ["5000", "5000.00", "5000.0"])
async def test_a_plain_decimal_string_is_accepted(db: Database, amount: str) -> None:
    # given Ada's invoice of 15000
    token = await given_invoice_100123(db)
    # when she pays an amount written as a plain decimal string
    request = {"amount": amount}
    async with client_for(db) as client:
        answer = await pay_with(client, token, 100123, **request)
    # then 5000.00 is paid
    assert answer["__typename"] == "PayInvoiceSuccess", answer
    assert answer["payment"]["amount"] == {"amount": "5000.00", "currency": "NGN"}
    assert answer["invoice"]["balanceDue"] == {"amount": "10000.00", "currency": "NGN"}


async def test_a_decimal_literal_string_in_the_document_is_accepted(db: Database) -> None:
    # given Ada's invoice of 15000
    token = await given_invoice_100123(db)
    # when the document holds the amount as a string literal
    async with client_for(db) as client:
        body = await post(client, token, PAY_LITERAL % '"5000.00"')
    # then it is paid
    assert body == {"data": {"payInvoice": {"__typename": "PayInvoiceSuccess"}}}


def money_amounts(answer: dict[str, Any]) -> dict[str, set[str]]:
    """Every Money amount in a PayInvoiceSuccess, grouped by currency."""
    found: dict[str, set[str]] = {}
    for part in ("payment", "invoice", "wallet"):
        for money in answer[part].values():
            if isinstance(money, dict):
                assert isinstance(money["amount"], str), money
                found.setdefault(money["currency"], set()).add(money["amount"])
    return found


@pytest.mark.parametrize(
    ("currency", "total", "amount", "top_up", "expected"),
    [
        pytest.param(
            "NGN",
            "15000",
            "5000",
            None,
            {"15000.00", "5000.00", "0.00", "10000.00", "45000.00"},
            id="NGN",
        ),
        pytest.param(
            "JPY", "15000", "5000", "50000", {"15000", "5000", "0", "10000", "45000"}, id="JPY"
        ),
        pytest.param(
            "KWD", "15", "5.5", "50", {"15.000", "5.500", "0.000", "9.500", "44.500"}, id="KWD"
        ),
    ],
)
async def test_decimal_outputs_have_exactly_the_currencys_decimals(
    db: Database, currency: str, total: str, amount: str, top_up: str | None, expected: set[str]
) -> None:
    # given Ada's invoice and a wallet of 50000 in the currency
    world = await make_world(db)
    if top_up is not None:
        await admin.top_up_wallet(db, DEMO_CLONE, world.ada, currency, Decimal(top_up))
    await invoice(db, 100123, world.ada, total, currency)
    # when she pays part of it
    request = {"currency": currency, "amount": amount}
    async with client_for(db) as client:
        answer = await pay_with(client, world.ada_token, 100123, **request)
    # then every amount is a string with exactly the currency's decimals
    assert answer["__typename"] == "PayInvoiceSuccess", answer
    assert money_amounts(answer) == {currency: expected}
    assert answer["payment"]["exchangeRate"] == "1"


async def test_a_tiny_exchange_rate_goes_out_as_a_plain_decimal_string(db: Database) -> None:
    # given Ada's NGN invoice of 0.01 and 100500 in her USD wallet
    world = await make_world(db)
    await admin.top_up_wallet(db, DEMO_CLONE, world.ada, "USD", Decimal("100000"))
    await invoice(db, 100123, world.ada, "0.01")
    # when she pays it from USD at 0.0000001 NGN per USD
    request = {"walletCurrency": "USD", "exchangeRate": "0.0000001"}
    async with client_for(db) as client:
        answer = await pay_with(client, world.ada_token, 100123, **request)
    # then the rate comes back as it went in, never in exponent form like "1E-7"
    assert answer["__typename"] == "PayInvoiceSuccess", answer
    assert answer["payment"]["exchangeRate"] == "0.0000001"
    assert answer["payment"]["walletDebit"] == {"amount": "100000.00", "currency": "USD"}
    assert answer["wallet"]["balance"] == {"amount": "500.00", "currency": "USD"}
