"""Admin mutations through GraphQL: customers, invoices, top-ups, voids and sessions.
Every typed error leaves the database exactly as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from app.billing import admin
from app.db.engine import Database
from tests.support import (
    CREATE_CUSTOMER,
    CREATE_INVOICE,
    DEMO_CLONE,
    PAY,
    REVOKE,
    SECRET,
    TOP_UP,
    VIEWER,
    VOID,
    World,
    client_for,
    error_codes,
    invoice,
    make_payment,
    make_world,
    snapshot_all,
    token_for,
)
from tests.support.clients import gql, gql_on

INVOICE = "query Invoice($number: Int!) { invoice(number: $number) { number status } }"
# Who a token is, by name and email: a new customer's token must read them back.
PROFILE = "query { viewer { id name email } }"
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
        viewer = await gql(client, PROFILE, token=chi_token)
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
    assert (paid["invoice"]["status"], paid["invoice"]["balanceDue"]) == (
        "PAID",
        {"amount": "0.00", "currency": "NGN"},
    )


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


@pytest.mark.parametrize("total", ["1e3", "NaN", "Infinity", "1,000", "", 10.5])
async def test_a_total_that_is_no_plain_decimal_string_is_a_top_level_error(
    db: Database, total: Any
) -> None:
    # given an admin
    world = await make_world(db)
    before = await snapshot_all(db)
    # when it sends a total in exponent notation, NaN, a float, …
    result = await gql_on(
        db,
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
        "replayed": False,
        "number": 100123,
    }
    assert seen == {"data": {"invoice": {"number": 100123, "status": "VOID"}}}
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


async def test_revoking_another_tenants_session_is_session_not_found(db: Database) -> None:
    # given a session of the other tenant
    world = await make_world(db)
    foreign = jti_of(world.stranger_token)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the demo admin revokes it
        theirs = await call(client, REVOKE, {"jti": foreign}, world.admin_token)
        # then the other tenant's customer can still use the token
        stranger = await gql(client, VIEWER, token=world.stranger_token)
    # then it is SessionNotFound, as for an unknown jti, and nothing was revoked
    assert theirs == {
        "__typename": "SessionNotFound",
        "message": "Session not found",
        "code": "SESSION_NOT_FOUND",
        "jti": foreign,
    }
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


# Every typed refusal: one table a mutation, a row its given, input, union member and data.

Given = Callable[[Database, World], Awaitable[None]]
Variables = Callable[[World], dict[str, Any]]
MISSING_CUSTOMER = "cus_" + "0" * 24


@dataclass(frozen=True)
class Refusal:
    name: str
    given: Given
    variables: Variables
    member: str
    data: dict[str, Any]


async def nothing_more(db: Database, world: World) -> None:
    """make_world alone."""


async def ada_owes_100123(db: Database, world: World) -> None:
    await invoice(db, 100123, world.ada, "15000")


def ada_paid_7(amount: str) -> Given:
    """Ada's invoice 7 of 100, of which she paid `amount`."""

    async def given(db: Database, world: World) -> None:
        await invoice(db, 7, world.ada, "100")
        await make_payment(db, world.ada, 7, amount)

    return given


async def ada_7_voided(db: Database, world: World) -> None:
    await invoice(db, 7, world.ada, "100")
    await admin.void_invoice(db, DEMO_CLONE, 7)


def refusal(name: str, given: Given, variables: Variables, member: str, **data: Any) -> Refusal:
    return Refusal(name, given, variables, member, data)


def invalid(name: str, variables: Variables, field: str, reason: str) -> Refusal:
    return refusal(
        name,
        nothing_more,
        variables,
        "InvalidInput",
        message="Invalid input",
        code="INVALID_INPUT",
        field=field,
        reason=reason,
    )


def customer(name: str, email: str) -> Variables:
    return lambda world: {"input": {"name": name, "email": email}}


def invoice_42(percent: str | None = None, **changes: Any) -> Variables:
    """Ada's otherwise valid invoice 42 of 100 NGN with `changes`, and an early-payment
    discount of `percent` until UNTIL when given."""

    def variables(world: World) -> dict[str, Any]:
        fields = {"number": 42, "customerId": world.ada, "currency": "NGN", "total": "100"}
        fields.update(changes)
        if percent is not None:
            fields["earlyPaymentDiscount"] = {"percent": percent, "until": UNTIL.isoformat()}
        return {"input": fields}

    return variables


def top_up_bola(currency: str, amount: str) -> Variables:
    return lambda world: {
        "input": {"customerId": world.bola, "currency": currency, "amount": amount}
    }


CREATE_CUSTOMER_REFUSALS = [
    refusal(
        "email taken in the tenant (other case)",
        nothing_more,
        customer("Ada Two", "ADA@example.com"),
        "CustomerEmailTaken",
        message="A customer with this email already exists",
        code="CUSTOMER_EMAIL_TAKEN",
        email="ada@example.com",
    ),
    invalid("email without @", customer("Eve", "not-an-email"), "email", "MALFORMED"),
    invalid("email without a dot", customer("Eve", "eve@nowhere"), "email", "MALFORMED"),
    invalid("empty email", customer("Eve", ""), "email", "MALFORMED"),
    invalid("empty name", customer("", "eve@example.com"), "name", "EMPTY"),
    invalid("blank name", customer("   ", "eve@example.com"), "name", "EMPTY"),
    invalid("name of 201", customer("E" * 201, "eve@example.com"), "name", "TOO_LONG"),
]

CREATE_INVOICE_REFUSALS = [
    refusal(
        "number taken in the tenant",
        ada_owes_100123,
        lambda world: {
            "input": {"number": 100123, "customerId": world.bola, "currency": "NGN", "total": "1"}
        },
        "InvoiceNumberTaken",
        message="An invoice with this number already exists",
        code="INVOICE_NUMBER_TAKEN",
        number=100123,
    ),
    refusal(
        "unknown customer",
        nothing_more,
        invoice_42(customerId=MISSING_CUSTOMER),
        "CustomerNotFound",
        message="Customer not found",
        code="CUSTOMER_NOT_FOUND",
        customerId=MISSING_CUSTOMER,
    ),
    refusal(
        "unknown currency",
        nothing_more,
        invoice_42(currency="XYZ"),
        "CurrencyNotFound",
        message="Currency not found",
        code="CURRENCY_NOT_FOUND",
        currency="XYZ",
    ),
    invalid("total 0", invoice_42(total="0"), "total", "NOT_POSITIVE"),
    invalid("total 0.00", invoice_42(total="0.00"), "total", "NOT_POSITIVE"),
    invalid("total -5", invoice_42(total="-5"), "total", "NOT_POSITIVE"),
    invalid("total 10.001", invoice_42(total="10.001"), "total", "TOO_PRECISE"),
    invalid("JPY 10.5", invoice_42(total="10.5", currency="JPY"), "total", "TOO_PRECISE"),
    invalid("total 1e16", invoice_42(total="10000000000000000"), "total", "TOO_LARGE"),
    invalid("number 0", invoice_42(number=0), "number", "OUT_OF_RANGE"),
    invalid("number -1", invoice_42(number=-1), "number", "OUT_OF_RANGE"),
    invalid("number -2**31", invoice_42(number=-2147483648), "number", "OUT_OF_RANGE"),
    *(
        invalid(
            f"discount {percent} %",
            invoice_42(percent=percent),
            "earlyPaymentDiscount.percent",
            "OUT_OF_RANGE",
        )
        for percent in ["0", "-1", "100", "150", "5.00001"]
    ),
]

TOP_UP_REFUSALS = [
    invalid("USD 0", top_up_bola("USD", "0"), "amount", "NOT_POSITIVE"),
    invalid("USD -10", top_up_bola("USD", "-10"), "amount", "NOT_POSITIVE"),
    invalid("NGN -0.01", top_up_bola("NGN", "-0.01"), "amount", "NOT_POSITIVE"),
    invalid("USD 1.001", top_up_bola("USD", "1.001"), "amount", "TOO_PRECISE"),
    invalid("JPY 0.5", top_up_bola("JPY", "0.5"), "amount", "TOO_PRECISE"),
    invalid("NGN 0.001", top_up_bola("NGN", "0.001"), "amount", "TOO_PRECISE"),
    invalid("USD 1e16", top_up_bola("USD", "10000000000000000"), "amount", "TOO_LARGE"),
    # Bola's 1000.00 NGN plus this passes the largest balance a wallet may hold.
    invalid(
        "NGN over the largest balance",
        top_up_bola("NGN", "9999999999999.99"),
        "amount",
        "TOO_LARGE",
    ),
    refusal(
        "unknown currency",
        nothing_more,
        top_up_bola("ABC", "1"),
        "CurrencyNotFound",
        message="Currency not found",
        code="CURRENCY_NOT_FOUND",
        currency="ABC",
    ),
    refusal(
        "unknown customer",
        nothing_more,
        lambda world: {"input": {"customerId": "cus_nobody", "currency": "NGN", "amount": "1"}},
        "CustomerNotFound",
        message="Customer not found",
        code="CUSTOMER_NOT_FOUND",
        customerId="cus_nobody",
    ),
]

VOID_REFUSALS = [
    refusal(
        "unknown invoice",
        nothing_more,
        lambda world: {"number": 424242},
        "InvoiceNotFound",
        message="Invoice not found",
        code="INVOICE_NOT_FOUND",
        number=424242,
    ),
    refusal(
        "paid in full",
        ada_paid_7("100"),
        lambda world: {"number": 7},
        "InvoiceAlreadyPaid",
        message="Invoice already paid",
        code="INVOICE_ALREADY_PAID",
        number=7,
    ),
    refusal(
        "partly paid",
        ada_paid_7("30"),
        lambda world: {"number": 7},
        "InvoiceHasPayments",
        message="An invoice with payments cannot be voided",
        code="INVOICE_HAS_PAYMENTS",
        number=7,
    ),
    refusal(
        "voided already",
        ada_7_voided,
        lambda world: {"number": 7},
        "InvoiceVoid",
        message="Invoice is void",
        code="INVOICE_VOID",
        number=7,
    ),
]

REVOKE_REFUSALS = [
    refusal(
        "unknown jti",
        nothing_more,
        lambda world: {"jti": "no-such-session"},
        "SessionNotFound",
        message="Session not found",
        code="SESSION_NOT_FOUND",
        jti="no-such-session",
    ),
]


def named(case: Refusal) -> str:
    return case.name


async def refused(db: Database, document: str, case: Refusal) -> None:
    # given the world and the row's scenery
    world = await make_world(db)
    await case.given(db, world)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when the admin sends the row's input
        answer = await call(client, document, case.variables(world), world.admin_token)
    # then it is the row's union member with its data, and nothing was written
    assert answer == {"__typename": case.member, **case.data}
    assert await snapshot_all(db) == before


@pytest.mark.parametrize("case", CREATE_CUSTOMER_REFUSALS, ids=named)
async def test_create_customer_refusals(db: Database, case: Refusal) -> None:
    await refused(db, CREATE_CUSTOMER, case)


@pytest.mark.parametrize("case", CREATE_INVOICE_REFUSALS, ids=named)
async def test_create_invoice_refusals(db: Database, case: Refusal) -> None:
    await refused(db, CREATE_INVOICE, case)


@pytest.mark.parametrize("case", TOP_UP_REFUSALS, ids=named)
async def test_top_up_wallet_refusals(db: Database, case: Refusal) -> None:
    await refused(db, TOP_UP, case)


@pytest.mark.parametrize("case", VOID_REFUSALS, ids=named)
async def test_void_invoice_refusals(db: Database, case: Refusal) -> None:
    await refused(db, VOID, case)


@pytest.mark.parametrize("case", REVOKE_REFUSALS, ids=named)
async def test_revoke_session_refusals(db: Database, case: Refusal) -> None:
    await refused(db, REVOKE, case)
