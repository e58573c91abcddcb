"""Admin mutations through GraphQL: customers, invoices, top-ups, voids and sessions.
Every typed error leaves the database exactly as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from app.db.engine import Database
from tests.support import (
    DEMO_CLONE,
    SECRET,
    client_for,
    error_codes,
    gql,
    invoice,
    make_payment,
    make_world,
    snapshot_all,
    token_for,
)

CREATE_CUSTOMER = """
mutation CreateCustomer($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on Customer { id name email status wallets { id } }
    ... on Error { message code }
    ... on InvalidInput { field reason }
    ... on CustomerEmailTaken { email }
  }
}
"""

CREATE_INVOICE = """
mutation CreateInvoice($input: CreateInvoiceInput!) {
  createInvoice(input: $input) {
    __typename
    ... on Invoice {
      id number status currency
      total { amount currency }
      balanceDue { amount }
      dueAt
      earlyPaymentDiscount { percent until }
      customer { id }
      payments { id }
    }
    ... on Error { message code }
    ... on InvalidInput { field reason }
    ... on InvoiceNumberTaken { number }
    ... on CustomerNotFound { customerId }
    ... on CurrencyNotFound { currency }
  }
}
"""

TOP_UP = """
mutation TopUp($input: TopUpWalletInput!) {
  topUpWallet(input: $input) {
    __typename
    ... on Wallet {
      id currency balance { amount currency }
      transactions(first: 1) {
        edges { node { kind amount { amount } balanceAfter { amount } reference } }
      }
    }
    ... on Error { message code }
    ... on InvalidInput { field reason }
    ... on CustomerNotFound { customerId }
    ... on CurrencyNotFound { currency }
  }
}
"""

VOID = """
mutation Void($number: Int!) {
  voidInvoice(number: $number) {
    __typename
    ... on Invoice { number status balanceDue { amount } }
    ... on Error { message code }
    ... on InvoiceNotFound { number }
    ... on InvoiceAlreadyPaid { number }
    ... on InvoiceVoid { number }
    ... on InvoiceHasPayments { number }
  }
}
"""

REVOKE = """
mutation Revoke($jti: String!) {
  revokeSession(jti: $jti) {
    __typename
    ... on RevokeSessionSuccess { jti revokedAt }
    ... on Error { message code }
    ... on SessionNotFound { jti }
  }
}
"""

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on PayInvoiceSuccess { invoice { status balanceDue { amount } } }
    ... on Error { message code }
  }
}
"""

INVOICE = "query Invoice($number: Int!) { invoice(number: $number) { number status } }"
VIEWER = "query { viewer { id name email } }"
WALLETS = "query { wallets { currency balance { amount } } }"

UNTIL = datetime(2031, 6, 30, 23, 59, tzinfo=UTC)
DUE = datetime(2031, 7, 31, tzinfo=UTC)


async def call(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    """The mutation's union value (the only field of `data`); no top-level errors."""
    result = await gql(client, document, variables, token)
    assert "errors" not in result, result
    (value,) = result["data"].values()
    assert isinstance(value, dict)
    return value


def jti_of(token: str) -> str:
    jti = jwt.decode(token, SECRET, algorithms=["HS256"])["jti"]
    assert isinstance(jti, str)
    return jti


# createCustomer


async def test_an_admin_creates_a_customer_who_can_then_sign_in(db: Database) -> None:
    # given an admin of the demo tenant
    world = await make_world(db)
    async with client_for(db) as client:
        # when it creates Chi (email with capitals and spaces)
        created = await call(
            client,
            CREATE_CUSTOMER,
            {"input": {"name": " Chi Eze ", "email": " Chi@Example.COM "}},
            world.admin_token,
        )
        # then Chi exists, active, without wallets, and a token for Chi works
        chi_token = await token_for(db, DEMO_CLONE, created["id"])
        viewer = await gql(client, VIEWER, token=chi_token)
    assert created["__typename"] == "Customer"
    assert created["id"].startswith("cus_")
    assert (created["name"], created["email"], created["status"]) == (
        "Chi Eze",
        "chi@example.com",
        "ACTIVE",
    )
    assert created["wallets"] == []
    assert viewer == {
        "data": {"viewer": {"id": created["id"], "name": "Chi Eze", "email": "chi@example.com"}}
    }


async def test_an_email_taken_in_the_tenant_is_refused_and_nothing_is_written(
    db: Database,
) -> None:
    # given Ada's email in the demo tenant
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the admin creates another customer with it (other case)
        taken = await call(
            client,
            CREATE_CUSTOMER,
            {"input": {"name": "Ada Two", "email": "ADA@example.com"}},
            world.admin_token,
        )
    # then it is CustomerEmailTaken and nothing was written
    assert taken == {
        "__typename": "CustomerEmailTaken",
        "message": "A customer with this email already exists",
        "code": "CUSTOMER_EMAIL_TAKEN",
        "email": "ada@example.com",
    }
    assert await snapshot_all(db) == before


async def test_the_same_email_in_another_tenant_is_allowed(db: Database) -> None:
    # given Ada's email in the demo tenant
    world = await make_world(db)
    async with client_for(db) as client:
        # when the other tenant's admin creates a customer with it
        created = await call(
            client,
            CREATE_CUSTOMER,
            {"input": {"name": "Ada Elsewhere", "email": "ada@example.com"}},
            world.other_admin_token,
        )
    # then it is a new customer
    assert created["__typename"] == "Customer"
    assert created["id"] != world.ada


@pytest.mark.parametrize(
    ("name", "email", "field", "reason"),
    [
        ("Eve", "not-an-email", "email", "MALFORMED"),
        ("Eve", "eve@nowhere", "email", "MALFORMED"),
        ("Eve", "", "email", "MALFORMED"),
        ("", "eve@example.com", "name", "EMPTY"),
        ("   ", "eve@example.com", "name", "EMPTY"),
        ("E" * 201, "eve@example.com", "name", "TOO_LONG"),
    ],
)
async def test_a_bad_email_or_name_is_invalid_input_and_nothing_is_written(
    db: Database, name: str, email: str, field: str, reason: str
) -> None:
    # given an admin
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when it creates a customer with a malformed field
        result = await call(
            client, CREATE_CUSTOMER, {"input": {"name": name, "email": email}}, world.admin_token
        )
    # then it is InvalidInput naming the field, and nothing was written
    assert result == {
        "__typename": "InvalidInput",
        "message": "Invalid input",
        "code": "INVALID_INPUT",
        "field": field,
        "reason": reason,
    }
    assert await snapshot_all(db) == before


# createInvoice


async def test_an_admin_creates_an_invoice_with_due_date_and_early_payment_discount(
    db: Database,
) -> None:
    # given Ada in the demo tenant
    world = await make_world(db)
    async with client_for(db) as client:
        # when the admin issues her invoice 100500 of 5000 NGN, 5 % off until UNTIL
        created = await call(
            client,
            CREATE_INVOICE,
            {
                "input": {
                    "number": 100500,
                    "customerId": world.ada,
                    "currency": "NGN",
                    "total": "5000",
                    "dueAt": DUE.isoformat(),
                    "earlyPaymentDiscount": {"percent": "5", "until": UNTIL.isoformat()},
                }
            },
            world.admin_token,
        )
        # then Ada sees it and can pay it with the discount
        seen = await gql(client, INVOICE, {"number": 100500}, world.ada_token)
        paid = await call(
            client,
            PAY,
            {
                "input": {
                    "invoiceNumber": 100500,
                    "currency": "NGN",
                    "applyEarlyPaymentDiscount": True,
                }
            },
            world.ada_token,
        )
    assert created["__typename"] == "Invoice"
    assert created["id"].startswith("inv_")
    assert created["number"] == 100500
    assert created["status"] == "UNPAID"
    assert created["currency"] == "NGN"
    assert created["total"] == {"amount": "5000.00", "currency": "NGN"}
    assert created["balanceDue"] == {"amount": "5000.00"}
    assert datetime.fromisoformat(created["dueAt"]) == DUE
    assert created["earlyPaymentDiscount"]["percent"] == "5"
    assert datetime.fromisoformat(created["earlyPaymentDiscount"]["until"]) == UNTIL
    assert created["customer"] == {"id": world.ada}
    assert created["payments"] == []
    assert seen == {"data": {"invoice": {"number": 100500, "status": "UNPAID"}}}
    assert paid["invoice"] == {"status": "PAID", "balanceDue": {"amount": "0.00"}}


async def test_an_invoice_without_terms_has_no_due_date_or_discount(db: Database) -> None:
    world = await make_world(db)
    async with client_for(db) as client:
        created = await call(
            client,
            CREATE_INVOICE,
            {"input": {"number": 1, "customerId": world.bola, "currency": "JPY", "total": "1200"}},
            world.admin_token,
        )
    assert created["total"] == {"amount": "1200", "currency": "JPY"}
    assert created["dueAt"] is None
    assert created["earlyPaymentDiscount"] is None


async def test_a_taken_invoice_number_is_refused_and_nothing_is_written(db: Database) -> None:
    # given invoice 100123 of Ada
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the admin issues another 100123, to Bola
        result = await call(
            client,
            CREATE_INVOICE,
            {
                "input": {
                    "number": 100123,
                    "customerId": world.bola,
                    "currency": "NGN",
                    "total": "1",
                }
            },
            world.admin_token,
        )
    # then it is InvoiceNumberTaken and nothing was written
    assert result == {
        "__typename": "InvoiceNumberTaken",
        "message": "An invoice with this number already exists",
        "code": "INVOICE_NUMBER_TAKEN",
        "number": 100123,
    }
    assert await snapshot_all(db) == before


async def test_the_same_invoice_number_in_another_tenant_is_allowed(db: Database) -> None:
    # given invoice 100123 in the demo tenant
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with client_for(db) as client:
        # when the other tenant's admin issues its own 100123
        result = await call(
            client,
            CREATE_INVOICE,
            {
                "input": {
                    "number": 100123,
                    "customerId": world.stranger,
                    "currency": "NGN",
                    "total": "1",
                }
            },
            world.other_admin_token,
        )
    # then it is created
    assert result["__typename"] == "Invoice"


async def test_an_invoice_for_an_unknown_customer_is_refused(db: Database) -> None:
    world = await make_world(db)
    before = await snapshot_all(db)
    missing = "cus_" + "0" * 24
    async with client_for(db) as client:
        result = await call(
            client,
            CREATE_INVOICE,
            {"input": {"number": 9, "customerId": missing, "currency": "NGN", "total": "1"}},
            world.admin_token,
        )
    assert result == {
        "__typename": "CustomerNotFound",
        "message": "Customer not found",
        "code": "CUSTOMER_NOT_FOUND",
        "customerId": missing,
    }
    assert await snapshot_all(db) == before


async def test_an_invoice_in_an_unknown_currency_is_refused(db: Database) -> None:
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        result = await call(
            client,
            CREATE_INVOICE,
            {"input": {"number": 9, "customerId": world.ada, "currency": "XYZ", "total": "1"}},
            world.admin_token,
        )
    assert result == {
        "__typename": "CurrencyNotFound",
        "message": "Currency not found",
        "code": "CURRENCY_NOT_FOUND",
        "currency": "XYZ",
    }
    assert await snapshot_all(db) == before


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"total": "0"}, "total", "NOT_POSITIVE"),
        ({"total": "0.00"}, "total", "NOT_POSITIVE"),
        ({"total": "-5"}, "total", "NOT_POSITIVE"),
        ({"total": "10.001"}, "total", "TOO_PRECISE"),
        ({"total": "10.5", "currency": "JPY"}, "total", "TOO_PRECISE"),
        ({"total": "10000000000000000"}, "total", "TOO_LARGE"),
        ({"number": 0}, "number", "OUT_OF_RANGE"),
        ({"number": -1}, "number", "OUT_OF_RANGE"),
        ({"number": -2147483648}, "number", "OUT_OF_RANGE"),
        ({"percent": "0"}, "earlyPaymentDiscount.percent", "OUT_OF_RANGE"),
        ({"percent": "-1"}, "earlyPaymentDiscount.percent", "OUT_OF_RANGE"),
        ({"percent": "100"}, "earlyPaymentDiscount.percent", "OUT_OF_RANGE"),
        ({"percent": "150"}, "earlyPaymentDiscount.percent", "OUT_OF_RANGE"),
        ({"percent": "5.00001"}, "earlyPaymentDiscount.percent", "OUT_OF_RANGE"),
    ],
)
async def test_a_bad_invoice_field_is_invalid_input_and_nothing_is_written(
    db: Database, changes: dict[str, Any], field: str, reason: str
) -> None:
    # given an otherwise valid invoice for Ada
    world = await make_world(db)
    fields: dict[str, Any] = {
        "number": 42,
        "customerId": world.ada,
        "currency": "NGN",
        "total": "100",
        **changes,
    }
    percent = fields.pop("percent", None)
    if percent is not None:
        fields["earlyPaymentDiscount"] = {"percent": percent, "until": UNTIL.isoformat()}
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the admin issues it with one bad field
        result = await call(client, CREATE_INVOICE, {"input": fields}, world.admin_token)
    # then it is InvalidInput naming the field, and nothing was written
    assert result == {
        "__typename": "InvalidInput",
        "message": "Invalid input",
        "code": "INVALID_INPUT",
        "field": field,
        "reason": reason,
    }
    assert await snapshot_all(db) == before


@pytest.mark.parametrize("total", ["1e3", "NaN", "Infinity", "1,000", "", 10.5])
async def test_a_total_that_is_no_plain_decimal_string_is_a_top_level_error(
    db: Database, total: Any
) -> None:
    # given an admin
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when it sends a total in exponent notation, NaN, a float, …
        result = await gql(
            client,
            CREATE_INVOICE,
            {"input": {"number": 1, "customerId": world.ada, "currency": "NGN", "total": total}},
            world.admin_token,
        )
    # then the request is refused as invalid (never masked as unexpected) and nothing is written
    assert result["data"] is None
    assert result["errors"], result
    assert all(e["message"] != "Unexpected Error" for e in result["errors"])
    assert await snapshot_all(db) == before


# topUpWallet


async def test_a_top_up_creates_the_wallet_when_missing(db: Database) -> None:
    # given Bola, who has no USD wallet
    world = await make_world(db)
    async with client_for(db) as client:
        # when the admin tops up 25.50 USD for him
        wallet = await call(
            client,
            TOP_UP,
            {
                "input": {
                    "customerId": world.bola,
                    "currency": "USD",
                    "amount": "25.50",
                    "reference": "card-1",
                }
            },
            world.admin_token,
        )
        wallets = await gql(client, WALLETS, token=world.bola_token)
    # then he has a USD wallet of 25.50 whose one ledger entry says so
    assert wallet["__typename"] == "Wallet"
    assert wallet["id"].startswith("wal_")
    assert wallet["currency"] == "USD"
    assert wallet["balance"] == {"amount": "25.50", "currency": "USD"}
    assert wallet["transactions"]["edges"] == [
        {
            "node": {
                "kind": "TOP_UP",
                "amount": {"amount": "25.50"},
                "balanceAfter": {"amount": "25.50"},
                "reference": "card-1",
            }
        }
    ]
    assert wallets["data"]["wallets"] == [
        {"currency": "NGN", "balance": {"amount": "1000.00"}},
        {"currency": "USD", "balance": {"amount": "25.50"}},
    ]


async def test_a_top_up_adds_to_an_existing_wallet(db: Database) -> None:
    # given Ada's NGN wallet of 50000
    world = await make_world(db)
    async with client_for(db) as client:
        wallet_id = (
            await gql(client, 'query { wallet(currency: "NGN") { id } }', token=world.ada_token)
        )["data"]["wallet"]["id"]
        # when the admin tops it up by 1234.56
        wallet = await call(
            client,
            TOP_UP,
            {"input": {"customerId": world.ada, "currency": "NGN", "amount": "1234.56"}},
            world.admin_token,
        )
    # then the same wallet holds 51234.56 and its newest entry carries that balance
    assert wallet["id"] == wallet_id
    assert wallet["balance"] == {"amount": "51234.56", "currency": "NGN"}
    assert wallet["transactions"]["edges"] == [
        {
            "node": {
                "kind": "TOP_UP",
                "amount": {"amount": "1234.56"},
                "balanceAfter": {"amount": "51234.56"},
                "reference": None,
            }
        }
    ]


@pytest.mark.parametrize(
    ("currency", "amount", "reason"),
    [
        ("USD", "0", "NOT_POSITIVE"),
        ("USD", "-10", "NOT_POSITIVE"),
        ("NGN", "-0.01", "NOT_POSITIVE"),
        ("USD", "1.001", "TOO_PRECISE"),
        ("JPY", "0.5", "TOO_PRECISE"),
        ("NGN", "0.001", "TOO_PRECISE"),
        ("USD", "10000000000000000", "TOO_LARGE"),
        # Bola's 1000.00 NGN plus this passes the largest balance a wallet may hold.
        ("NGN", "9999999999999.99", "TOO_LARGE"),
    ],
)
async def test_a_bad_top_up_amount_is_invalid_input_and_nothing_is_written(
    db: Database, currency: str, amount: str, reason: str
) -> None:
    # given Bola (an NGN wallet only)
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the admin tops up a non-positive, over-precise or too large amount
        result = await call(
            client,
            TOP_UP,
            {"input": {"customerId": world.bola, "currency": currency, "amount": amount}},
            world.admin_token,
        )
    # then it is InvalidInput and no wallet or entry was created
    assert result == {
        "__typename": "InvalidInput",
        "message": "Invalid input",
        "code": "INVALID_INPUT",
        "field": "amount",
        "reason": reason,
    }
    assert await snapshot_all(db) == before


async def test_a_top_up_in_an_unknown_currency_or_for_an_unknown_customer_is_refused(
    db: Database,
) -> None:
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        currency = await call(
            client,
            TOP_UP,
            {"input": {"customerId": world.bola, "currency": "ABC", "amount": "1"}},
            world.admin_token,
        )
        customer = await call(
            client,
            TOP_UP,
            {"input": {"customerId": "cus_nobody", "currency": "NGN", "amount": "1"}},
            world.admin_token,
        )
    assert (currency["__typename"], currency["currency"]) == ("CurrencyNotFound", "ABC")
    assert (customer["__typename"], customer["customerId"]) == ("CustomerNotFound", "cus_nobody")
    assert await snapshot_all(db) == before


async def test_a_top_up_with_an_overlong_reference_is_bad_user_input(db: Database) -> None:
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        result = await gql(
            client,
            TOP_UP,
            {
                "input": {
                    "customerId": world.bola,
                    "currency": "NGN",
                    "amount": "1",
                    "reference": "r" * 201,
                }
            },
            world.admin_token,
        )
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert await snapshot_all(db) == before


# voidInvoice


async def test_a_voided_invoice_cannot_be_paid(db: Database) -> None:
    # given Ada's unpaid invoice 100123
    world = await make_world(db)
    await invoice(db, 100123, world.ada, "15000")
    async with client_for(db) as client:
        # when the admin voids it
        voided = await call(client, VOID, {"number": 100123}, world.admin_token)
        before = await snapshot_all(db)
        # and Ada then tries to pay it
        paid = await call(
            client, PAY, {"input": {"invoiceNumber": 100123, "currency": "NGN"}}, world.ada_token
        )
        seen = await gql(client, INVOICE, {"number": 100123}, world.ada_token)
    # then it is VOID, the payment is refused with InvoiceVoid and no money moved
    assert voided == {
        "__typename": "Invoice",
        "number": 100123,
        "status": "VOID",
        "balanceDue": {"amount": "15000.00"},
    }
    assert paid == {
        "__typename": "InvoiceVoid",
        "message": "Invoice is void",
        "code": "INVOICE_VOID",
    }
    assert seen == {"data": {"invoice": {"number": 100123, "status": "VOID"}}}
    assert await snapshot_all(db) == before


async def test_voiding_an_unknown_invoice_is_invoice_not_found(db: Database) -> None:
    world = await make_world(db)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        result = await call(client, VOID, {"number": 424242}, world.admin_token)
    assert result == {
        "__typename": "InvoiceNotFound",
        "message": "Invoice not found",
        "code": "INVOICE_NOT_FOUND",
        "number": 424242,
    }
    assert await snapshot_all(db) == before


async def test_voiding_a_paid_invoice_is_invoice_already_paid(db: Database) -> None:
    # given Ada's invoice 7, paid in full
    world = await make_world(db)
    await invoice(db, 7, world.ada, "100")
    await make_payment(db, world.ada, 7, "100")
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the admin voids it
        result = await call(client, VOID, {"number": 7}, world.admin_token)
    # then it is InvoiceAlreadyPaid and the invoice stays PAID
    assert result == {
        "__typename": "InvoiceAlreadyPaid",
        "message": "Invoice already paid",
        "code": "INVOICE_ALREADY_PAID",
        "number": 7,
    }
    assert await snapshot_all(db) == before


async def test_voiding_a_partly_paid_invoice_is_invoice_has_payments(db: Database) -> None:
    # given Ada's invoice 7 of 100, 30 paid
    world = await make_world(db)
    await invoice(db, 7, world.ada, "100")
    await make_payment(db, world.ada, 7, "30")
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the admin voids it
        result = await call(client, VOID, {"number": 7}, world.admin_token)
    # then it is InvoiceHasPayments and nothing changed
    assert result == {
        "__typename": "InvoiceHasPayments",
        "message": "An invoice with payments cannot be voided",
        "code": "INVOICE_HAS_PAYMENTS",
        "number": 7,
    }
    assert await snapshot_all(db) == before


async def test_voiding_twice_is_invoice_void(db: Database) -> None:
    world = await make_world(db)
    await invoice(db, 7, world.ada, "100")
    async with client_for(db) as client:
        await call(client, VOID, {"number": 7}, world.admin_token)
        before = await snapshot_all(db)
        again = await call(client, VOID, {"number": 7}, world.admin_token)
    assert (again["__typename"], again["number"]) == ("InvoiceVoid", 7)
    assert await snapshot_all(db) == before


# revokeSession


async def test_a_revoked_token_is_unauthenticated_at_once(db: Database) -> None:
    # given Ada's working token
    world = await make_world(db)
    jti = jti_of(world.ada_token)
    async with client_for(db) as client:
        assert "errors" not in await gql(client, VIEWER, token=world.ada_token)
        # when the admin revokes her session
        revoked = await call(client, REVOKE, {"jti": jti}, world.admin_token)
        # then her token is refused on the very next request, Bola's still works
        after = await gql(client, VIEWER, token=world.ada_token)
        bola = await gql(client, VIEWER, token=world.bola_token)
    assert revoked["__typename"] == "RevokeSessionSuccess"
    assert revoked["jti"] == jti
    revoked_at = datetime.fromisoformat(revoked["revokedAt"])
    assert abs(datetime.now(UTC) - revoked_at) < timedelta(minutes=1)
    assert error_codes(after) == ["UNAUTHENTICATED"]
    assert after["data"] == {"viewer": None}
    assert bola["data"]["viewer"]["id"] == world.bola


async def test_revoking_an_unknown_or_another_tenants_session_is_session_not_found(
    db: Database,
) -> None:
    # given a session of the other tenant
    world = await make_world(db)
    foreign = jti_of(world.stranger_token)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the demo admin revokes an unknown jti and the other tenant's jti
        unknown = await call(client, REVOKE, {"jti": "no-such-session"}, world.admin_token)
        theirs = await call(client, REVOKE, {"jti": foreign}, world.admin_token)
        # then the other tenant's customer can still use the token
        stranger = await gql(client, VIEWER, token=world.stranger_token)
    # then both are SessionNotFound alike and nothing was revoked
    assert unknown == {
        "__typename": "SessionNotFound",
        "message": "Session not found",
        "code": "SESSION_NOT_FOUND",
        "jti": "no-such-session",
    }
    assert theirs == {**unknown, "jti": foreign}
    assert stranger["data"]["viewer"]["id"] == world.stranger
    assert await snapshot_all(db) == before


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
async def test_unstorable_text_in_any_mutation_input_is_bad_user_input_and_writes_nothing(
    db: Database, bad: str
) -> None:
    # given Ada with an unpaid invoice 7
    world = await make_world(db)
    await invoice(db, 7, world.ada, "100")
    calls: list[tuple[str, dict[str, Any], str]] = [
        (CREATE_CUSTOMER, {"input": {"name": "Eve" + bad, "email": "eve@x.io"}}, world.admin_token),
        (CREATE_CUSTOMER, {"input": {"name": "Eve", "email": f"e{bad}@x.io"}}, world.admin_token),
        (
            CREATE_INVOICE,
            {"input": {"number": 8, "customerId": "cus_" + bad, "currency": "NGN", "total": "1"}},
            world.admin_token,
        ),
        (
            TOP_UP,
            {
                "input": {
                    "customerId": world.ada,
                    "currency": "NGN",
                    "amount": "1",
                    "reference": bad,
                }
            },
            world.admin_token,
        ),
        (REVOKE, {"jti": "x" + bad}, world.admin_token),
        (
            PAY,
            {"input": {"invoiceNumber": 7, "currency": "NGN", "memo": "thanks" + bad}},
            world.ada_token,
        ),
        (
            PAY,
            {"input": {"invoiceNumber": 7, "currency": "NGN", "idempotencyKey": "k" + bad}},
            world.ada_token,
        ),
    ]
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when any mutation gets a text input holding a NUL character or a lone surrogate
        results = [
            await gql(client, document, variables, token) for document, variables, token in calls
        ]
    # then each is a top-level BAD_USER_INPUT error (never a masked 500) and nothing is written
    for result in results:
        assert result["data"] is None
        assert error_codes(result) == ["BAD_USER_INPUT"], result
    assert await snapshot_all(db) == before
