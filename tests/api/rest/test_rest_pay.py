"""`POST /api/v1/billing/invoice/pay` on both backends: every check of docs/design.md "The
checks, in order" with its exact status, body and `X-Error-Code`, and nothing written; the
seed document's own example; exact amounts; another wallet currency; idempotent replays; the
body size limit.

The whole check table runs once against the service (tests/payments/test_pay_checks.py); here
each status/message row is one request and the answer it gets through the REST edge.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import jwt
import pytest

from app.api.rest import route as rest
from app.billing import admin
from app.db.engine import Database
from app.seed.demo import seed_demo
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    REST_PAY,
    SEED_REQUEST,
    World,
    snapshot,
    snapshot_all,
    wallet_books,
)
from tests.support import test_settings as settings_for
from tests.support.clients import client_for
from tests.support.world import (
    BOLAS,
    ELSEWHERE,
    MISSING,
    OPEN,
    PAID,
    VOIDED,
    given_books,
    suspend,
)

PATH = REST_PAY

# The checks' table (docs/design.md): each union member's REST status and message.
DESIGN_ROWS: dict[str, tuple[int, str]] = {
    "UserNotFound": (404, "User not found"),
    "CurrencyNotFound": (404, "Currency not found"),
    "InvoiceNotFound": (404, "Invoice not found"),
    "InvoiceOwnershipMismatch": (400, "Customer Invoice does not match expected credentials"),
    "CurrencyMismatch": (400, "Currency does not match expected credentials"),
    "InvoiceAlreadyPaid": (400, "Invoice already paid"),
    "InvoiceVoid": (400, "Invoice is void"),
    "WalletNotFound": (400, "Wallet not found"),
    "WrongAmount": (400, "Wrong Amount"),
    "InsufficientFunds": (400, "Insufficient funds"),
    "IdempotencyKeyReused": (409, "Idempotency key reused with different parameters"),
}
CODES = {
    "UserNotFound": "USER_NOT_FOUND",
    "CurrencyNotFound": "CURRENCY_NOT_FOUND",
    "InvoiceNotFound": "INVOICE_NOT_FOUND",
    "InvoiceOwnershipMismatch": "INVOICE_OWNERSHIP_MISMATCH",
    "CurrencyMismatch": "CURRENCY_MISMATCH",
    "InvoiceAlreadyPaid": "INVOICE_ALREADY_PAID",
    "InvoiceVoid": "INVOICE_VOID",
    "WalletNotFound": "WALLET_NOT_FOUND",
    "WrongAmount": "WRONG_AMOUNT",
    "InsufficientFunds": "INSUFFICIENT_FUNDS",
    "IdempotencyKeyReused": "IDEMPOTENCY_KEY_REUSED",
}
MISSING_PARAMETERS = "Missing One or More Required Parameters"

# A well-formed request paying 1000 of OPEN; the malformed cases below each break one
# thing of it (test_the_base_request_is_paid shows it pays as it is).
PART = {"currency": "NGN", "exchangeRate": 1, "chargeTotalBefore": 5000, "chargeTotalCurrent": 1000}
BASE: dict[str, Any] = {
    "cloneId": DEMO_CLONE,
    "invoice": OPEN,
    "currency": "NGN",
    "partPaymentFromWalletBalance": PART,
}


def raw(body: Any) -> bytes:
    """`body` as JSON text. A float here is written as its shortest repr (1234.56 stays
    1234.56), so the server, which parses numbers as Decimal, reads exactly that literal."""
    return json.dumps(body).encode()


def without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != name}


def with_part(**fields: Any) -> dict[str, Any]:
    return {**BASE, "partPaymentFromWalletBalance": {**PART, **fields}}


def edited(old: bytes, new: bytes) -> bytes:
    """BASE as JSON text with `old` replaced by `new` (for what json.dumps cannot write)."""
    text_ = raw(BASE)
    assert old in text_, (old, text_)
    return text_.replace(old, new)


def decoded(response: httpx.Response) -> Any:
    """The body with every number exact: JSON floats as Decimal, never float."""
    return json.loads(response.text, parse_float=Decimal)


async def post(
    client: httpx.AsyncClient,
    token: str | None,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a JSON `body` (or raw `content`) with `token`; every answer has a request id."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    response = await client.post(
        PATH, content=raw(body) if content is None else content, headers=sent
    )
    assert response.headers.get("X-Request-ID"), response.headers
    return response


async def refused(
    db: Database,
    token: str | None,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send the request; prove nothing at all was written; the answer."""
    before = await snapshot_all(db)
    async with client_for(db) as client:
        response = await post(client, token, body, content=content, headers=headers)
    assert await snapshot_all(db) == before
    return response


def assert_answer(response: httpx.Response, status: int, message: str, code: str) -> None:
    """Exactly `{"message": message}` with `status`, and the machine code in X-Error-Code
    (a 400 for a parameter also names it in `param`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if message == MISSING_PARAMETERS:
        assert isinstance(body.pop("param"), str), response.text
    assert body == {"message": message}
    assert response.headers["X-Error-Code"] == code


def assert_row(response: httpx.Response, member: str) -> None:
    status, message = DESIGN_ROWS[member]
    assert_answer(response, status, message, CODES[member])


# --- the mapping itself ---------------------------------------------------------------


def test_the_route_maps_every_union_error_to_designs_status_and_message() -> None:
    # given the route's one table, as (status, message) by class name
    mapped = {cls.__name__: (status, cls.message) for cls, status in rest.STATUS.items()}
    # then it is exactly the table from USER_NOT_FOUND to IDEMPOTENCY_KEY_REUSED, and every
    # class carries its code
    assert mapped == DESIGN_ROWS
    assert {cls.__name__: cls.code for cls in rest.STATUS} == CODES


# --- Check.UNAUTHENTICATED: the token -------------------------------------------------


def resigned(token: str) -> str:
    """The same claims, signed with another secret: only the signature is wrong."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")


UNAUTHENTICATED: list[Any] = [
    pytest.param(lambda world: None, id="no Authorization header"),
    pytest.param(lambda world: "Basic YWRhOnNlY3JldA==", id="not a bearer token"),
    pytest.param(lambda world: "Bearer not-a-jwt", id="not a JWT"),
    pytest.param(lambda world: f"Bearer {resigned(world.ada_token)}", id="another signature"),
    pytest.param(lambda world: world.ada_token, id="the token without Bearer"),
]


@pytest.mark.parametrize("header_of", UNAUTHENTICATED)
async def test_row_1_no_valid_token_is_unauthorized(
    db: Database, header_of: Callable[[World], str | None]
) -> None:
    # given Ada's open invoice
    world = await given_books(db)
    # when it is paid without a valid token, the body also failing FORBIDDEN and INVALID_REQUEST
    header = header_of(world)
    headers = {} if header is None else {"Authorization": header}
    body = {**BASE, "cloneId": OTHER_CLONE, "invoice": "not a number"}
    response = await refused(db, None, body, headers=headers)
    # then 401 Unauthorized comes first, and nothing was written
    assert_answer(response, 401, "Unauthorized", "UNAUTHENTICATED")
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_row_1_a_revoked_session_is_unauthorized(db: Database) -> None:
    # given Ada's token, whose session an admin revoked
    world = await given_books(db)
    claims = jwt.decode(world.ada_token, options={"verify_signature": False})
    await admin.revoke_session(db, DEMO_CLONE, claims["jti"])
    # when she pays with it
    response = await refused(db, world.ada_token, BASE)
    # then 401
    assert_answer(response, 401, "Unauthorized", "UNAUTHENTICATED")


# --- Check.FORBIDDEN: the traffic guard -----------------------------------------------

FORBIDDEN: list[Any] = [
    pytest.param(False, {**BASE, "cloneId": OTHER_CLONE}, id="cloneId of the other tenant"),
    pytest.param(False, {**BASE, "cloneId": ""}, id="empty cloneId"),
    pytest.param(
        False,
        {**BASE, "cloneId": OTHER_CLONE, "invoice": "x", "currency": 5},
        id="cloneId mismatch before malformed parameters (2 before 4)",
    ),
    pytest.param(True, BASE, id="suspended customer"),
    pytest.param(True, "[1, 2", id="suspended customer, malformed JSON (2 before 4)"),
    pytest.param(
        True, {**BASE, "invoice": MISSING}, id="suspended customer, unknown invoice (2 before 7)"
    ),
]


@pytest.mark.parametrize(("suspended", "body"), FORBIDDEN)
async def test_row_2_the_guard_denies_access(db: Database, suspended: bool, body: Any) -> None:
    # given Ada's open invoice, Ada suspended or not
    world = await given_books(db)
    if suspended:
        await suspend(db, world.ada)
    # when she pays it
    content = body.encode() if isinstance(body, str) else None
    response = await refused(db, world.ada_token, body, content=content)
    # then 403 Access denied, and nothing was written
    assert_answer(response, 403, "Access denied", "FORBIDDEN")


# --- Check.INVALID_REQUEST: parameters ------------------------------------------------

MALFORMED: list[Any] = [
    pytest.param(raw(without(BASE, "invoice")), {}, id="invoice missing"),
    pytest.param(raw(without(BASE, "currency")), {}, id="currency missing"),
    pytest.param(raw({**BASE, "invoice": None}), {}, id="invoice null"),
    pytest.param(raw({**BASE, "currency": None}), {}, id="currency null"),
    pytest.param(raw({**BASE, "invoice": str(OPEN)}), {}, id="invoice as a string"),
    pytest.param(edited(b'"invoice": 100,', b'"invoice": 100.5,'), {}, id="invoice as 100.5"),
    pytest.param(raw({**BASE, "invoice": 100123.5}), {}, id="invoice as the float 100123.5"),
    pytest.param(raw({**BASE, "invoice": True}), {}, id="invoice as a boolean"),
    pytest.param(raw({**BASE, "invoice": 2**31}), {}, id="invoice beyond 32 bits"),
    pytest.param(raw({**BASE, "invoice": [OPEN]}), {}, id="invoice as a list"),
    pytest.param(raw({**BASE, "currency": 566}), {}, id="currency as a number"),
    pytest.param(raw({**BASE, "currency": ["NGN"]}), {}, id="currency as a list"),
    pytest.param(raw({**BASE, "currency": "N\x00GN"}), {}, id="currency with a NUL"),
    pytest.param(raw({**BASE, "reference": "\ud800"}), {}, id="reference a lone surrogate"),
    pytest.param(raw({**BASE, "memo": "a\udfffb"}), {}, id="memo with a lone surrogate"),
    pytest.param(raw({**BASE, "cloneId": 64}), {}, id="cloneId as a number"),
    pytest.param(
        raw({**BASE, "partPaymentFromWalletBalance": "5000"}), {}, id="part payment a string"
    ),
    pytest.param(
        raw({**BASE, "partPaymentFromWalletBalance": [PART]}), {}, id="part payment a list"
    ),
    pytest.param(raw(with_part(chargeTotalCurrent="1000")), {}, id="chargeTotalCurrent string"),
    pytest.param(raw(with_part(chargeTotalCurrent=True)), {}, id="chargeTotalCurrent boolean"),
    pytest.param(raw(with_part(chargeTotalBefore="5000")), {}, id="chargeTotalBefore string"),
    pytest.param(raw(with_part(exchangeRate="1")), {}, id="exchangeRate string"),
    pytest.param(raw(with_part(exchangeRate={"value": 1})), {}, id="exchangeRate object"),
    pytest.param(raw(with_part(currency=566)), {}, id="wallet currency a number"),
    pytest.param(raw({**BASE, "applyEarlyPaymentDiscount": "yes"}), {}, id="discount flag text"),
    pytest.param(raw({**BASE, "reference": 42}), {}, id="reference a number"),
    pytest.param(raw({**BASE, "memo": "m" * 1001}), {}, id="memo too long"),
    pytest.param(edited(b'"chargeTotalCurrent": 1000', b'"chargeTotalCurrent": NaN'), {}, id="NaN"),
    pytest.param(
        edited(b'"chargeTotalCurrent": 1000', b'"chargeTotalCurrent": Infinity'),
        {},
        id="Infinity",
    ),
    pytest.param(
        edited(b'"chargeTotalBefore": 5000', b'"chargeTotalBefore": -Infinity'),
        {},
        id="-Infinity",
    ),
    pytest.param(
        edited(b'"chargeTotalCurrent": 1000', b'"chargeTotalCurrent": 1e999999999'),
        {},
        id="amount with a huge exponent",
    ),
    pytest.param(
        edited(b'"chargeTotalBefore": 5000', b'"chargeTotalBefore": 1e999999999'),
        {},
        id="expected balance with a huge exponent",
    ),
    pytest.param(
        edited(
            b'"currency": "NGN", "exchangeRate": 1,',
            b'"currency": "USD", "exchangeRate": 1e-999999999,',
        ),
        {},
        id="USD rate with a tiny exponent",
    ),
    pytest.param(
        edited(b'"chargeTotalCurrent": 1000', b'"chargeTotalCurrent": 1' + b"0" * 30),
        {},
        id="amount of 31 digits",
    ),
    pytest.param(
        edited(b'"invoice": 100,', b'"invoice": 1e999999999,'),
        {},
        id="invoice with a huge exponent",
    ),
    pytest.param(raw(BASE)[:-5], {}, id="malformed JSON"),
    pytest.param(raw([BASE]), {}, id="a JSON array"),
    pytest.param(b'"pay invoice 100"', {}, id="a JSON string"),
    pytest.param(b"null", {}, id="JSON null"),
    pytest.param(b"", {}, id="empty body"),
    pytest.param(b"\xff\xfe{}", {}, id="not UTF-8"),
    pytest.param(b"[" * 60_000, {}, id="nested too deep"),
    pytest.param(raw(BASE), {"Idempotency-Key": ""}, id="empty Idempotency-Key"),
    pytest.param(raw(BASE), {"Idempotency-Key": "   "}, id="blank Idempotency-Key"),
    pytest.param(raw(BASE), {"Idempotency-Key": "k" * 201}, id="Idempotency-Key too long"),
]


@pytest.mark.parametrize(("content", "headers"), MALFORMED)
async def test_row_4_a_missing_or_mistyped_parameter_is_refused(
    db: Database, content: bytes, headers: dict[str, str]
) -> None:
    # given Ada's open invoice
    world = await given_books(db)
    # when the request is BASE with one thing missing, mistyped or malformed
    response = await refused(db, world.ada_token, content=content, headers=headers)
    # then 400 with the seed's message (413 only when the body is also over the limit)
    if len(content) > rest.MAX_BODY_BYTES:
        assert_answer(response, 413, rest.TOO_LARGE, "PAYLOAD_TOO_LARGE")
    else:
        assert_answer(response, 400, MISSING_PARAMETERS, "BAD_USER_INPUT")


async def test_the_base_request_is_paid(db: Database) -> None:
    # given Ada's open invoice of 5000
    world = await given_books(db)
    async with client_for(db) as client:
        # when BASE itself is sent, and BASE with its invoice number as 100.0
        response = await post(client, world.ada_token, BASE)
        integral = await post(
            client,
            world.ada_token,
            content=edited(b'"invoice": 100,', b'"invoice": 100.0,').replace(
                b'"chargeTotalBefore": 5000', b'"chargeTotalBefore": 4000'
            ),
        )
    # then both pay 1000 (an integral JSON number is an integer, as in JSON Schema)
    assert response.status_code == 200, response.text
    assert decoded(response)["balanceDue"] == 4000
    assert integral.status_code == 200, integral.text
    assert decoded(integral)["balanceDue"] == 3000


# --- USER_NOT_FOUND to INSUFFICIENT_FUNDS: the service's errors -----------------------

# One case a status/message row: the whole table runs against the service once
# (tests/payments/test_pay_checks.py); here only the REST edge's mapping of each member.
DOMAIN_ERRORS: list[Any] = [
    pytest.param("admin_token", BASE, "UserNotFound", id="5 an admin is not a customer"),
    pytest.param("ada_token", {**BASE, "currency": "ZZZ"}, "CurrencyNotFound", id="6 currency"),
    pytest.param(
        "ada_token",
        {"invoice": ELSEWHERE, "currency": "NGN"},
        "InvoiceNotFound",
        id="7 the other tenant's invoice",
    ),
    pytest.param(
        "ada_token",
        {"invoice": BOLAS, "currency": "NGN"},
        "InvoiceOwnershipMismatch",
        id="8 another customer's invoice",
    ),
    pytest.param(
        "ada_token", {"invoice": OPEN, "currency": "USD"}, "CurrencyMismatch", id="9 USD for NGN"
    ),
    pytest.param(
        "ada_token", {"invoice": PAID, "currency": "NGN"}, "InvoiceAlreadyPaid", id="10 paid"
    ),
    pytest.param("ada_token", {"invoice": VOIDED, "currency": "NGN"}, "InvoiceVoid", id="10 void"),
    pytest.param(
        "ada_token",
        with_part(currency="EUR", exchangeRate=1600),
        "WalletNotFound",
        id="11 no EUR wallet",
    ),
    pytest.param(
        "ada_token", with_part(chargeTotalBefore=15000), "WrongAmount", id="12 stale balance"
    ),
    pytest.param(
        "bola_token",
        {"invoice": BOLAS, "currency": "NGN"},
        "InsufficientFunds",
        id="13 Bola's 1000 for 2500",
    ),
]


@pytest.mark.parametrize(("token", "body", "member"), DOMAIN_ERRORS)
async def test_rows_5_to_13_each_domain_error_has_its_status_and_message(
    db: Database, token: str, body: dict[str, Any], member: str
) -> None:
    # given the books
    world = await given_books(db)
    # when a request fails one of the service's checks (or two: the earlier decides)
    response = await refused(db, getattr(world, token), body)
    # then the table's status and exact message, the code in X-Error-Code, nothing written
    assert_row(response, member)
    assert "Idempotent-Replayed" not in response.headers


# --- Check.IDEMPOTENCY_KEY_REUSED and replays -----------------------------------------


async def test_row_14_a_key_reused_with_other_parameters_is_a_conflict(db: Database) -> None:
    # given Ada paid 1000 of her invoice with key "k-1"
    world = await given_books(db)
    key = {"Idempotency-Key": "k-1"}
    async with client_for(db) as client:
        first = await post(client, world.ada_token, BASE, headers=key)
    assert first.status_code == 200, first.text
    # when she sends "k-1" again for 2000, against the balance now due
    other = with_part(chargeTotalCurrent=2000, chargeTotalBefore=4000)
    response = await refused(db, world.ada_token, other, headers=key)
    # then 409, and nothing was written
    assert_row(response, "IdempotencyKeyReused")


async def test_a_replay_answers_the_same_body_and_moves_no_money(db: Database) -> None:
    # given Ada paid 1000 with key "order-1"
    world = await given_books(db)
    key = {"Idempotency-Key": "order-1"}
    async with client_for(db) as client:
        first = await post(client, world.ada_token, BASE, headers=key)
        paid = await snapshot(db)
        # when she sends it again, and once more with the fields in another order
        again = await post(client, world.ada_token, BASE, headers=key)
        reordered = dict(reversed(list(BASE.items())))
        shuffled = await post(client, world.ada_token, content=raw(reordered), headers=key)
    # then the first was executed, and both repeats are that outcome again, marked replayed
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    for repeat in (again, shuffled):
        assert repeat.status_code == 200, repeat.text
        assert repeat.headers["Idempotent-Replayed"] == "true"
        assert repeat.text == first.text
    # and no money moved after the first
    assert await snapshot(db) == paid
    assert (await wallet_books(db, world.ada, "NGN")).balance == 4_800_000


async def test_a_replayed_domain_error_carries_the_replay_header(db: Database) -> None:
    # given Bola failed to pay his 2500 invoice with key "k-err" (he has 1000)
    world = await given_books(db)
    key = {"Idempotency-Key": "k-err"}
    body = {"invoice": BOLAS, "currency": "NGN"}
    first = await refused(db, world.bola_token, body, headers=key)
    # when he sends the very same request again
    again = await refused(db, world.bola_token, body, headers=key)
    # then the same 400, now marked as a replay, and nothing written either time
    assert_row(first, "InsufficientFunds")
    assert "Idempotent-Replayed" not in first.headers
    assert_row(again, "InsufficientFunds")
    assert again.headers["Idempotent-Replayed"] == "true"


# --- success --------------------------------------------------------------------------


async def test_the_seed_example_pays_invoice_100123_in_two_parts(db: Database) -> None:
    # given the demo tenant: invoice 100123 of 15000 NGN for Ada, whose NGN wallet has 50000
    seed = await seed_demo(db, settings_for(db.url))
    async with client_for(db) as client:
        # when the seed document's own request is sent with her token
        first = await post(client, seed.ada_token, content=SEED_REQUEST)
        # and then the 10000 left
        rest_of_it = {
            "cloneId": DEMO_CLONE,
            "invoice": 100123,
            "currency": "NGN",
            "partPaymentFromWalletBalance": {
                "currency": "NGN",
                "exchangeRate": 1,
                "chargeTotalBefore": 10000,
                "chargeTotalCurrent": 10000,
            },
        }
        second = await post(client, seed.ada_token, rest_of_it)
        # and once more, though nothing is due
        third = await post(client, seed.ada_token, rest_of_it)
    # then the first pays 5000 and leaves 10000, amounts as exact JSON integers
    assert first.status_code == 200, first.text
    one = decoded(first)
    assert one == {
        "message": "Invoice payment successful",
        "invoiceNo": 100123,
        "amount": 15000,
        "currency": "NGN",
        "walletBalance": 45000,
        "walletCurrency": "NGN",
        "success": True,
        "amountPaid": 5000,
        "balanceDue": 10000,
        "status": "partially_paid",
        "paymentId": one["paymentId"],
    }
    assert one["paymentId"].startswith("pay_")
    for exact in ('"amount":15000,', '"walletBalance":45000,', '"balanceDue":10000,'):
        assert exact in first.text
    assert "Idempotent-Replayed" not in first.headers
    # and the second settles it
    assert second.status_code == 200, second.text
    two = decoded(second)
    assert (two["status"], two["amountPaid"], two["balanceDue"]) == ("paid", 10000, 0)
    assert two["walletBalance"] == 35000 and '"walletBalance":35000,' in second.text
    assert '"balanceDue":0,' in second.text
    assert two["paymentId"] != one["paymentId"]
    # and the third is refused as already paid
    assert_row(third, "InvoiceAlreadyPaid")
    books = await wallet_books(db, seed.ada.id, "NGN")
    assert (books.balance, books.ledger_sum, books.entries) == (3_500_000, 3_500_000, 3)


async def test_amounts_with_cents_are_exact_json_numbers(db: Database) -> None:
    # given Ada's open invoice of 5000.00 and her NGN wallet of 49000.00
    world = await given_books(db)
    async with client_for(db) as client:
        # when she pays 1234.56 and then 0.1 and 0.2
        cents = await post(client, world.ada_token, with_part(chargeTotalCurrent=1234.56))
        tenth = await post(
            client, world.ada_token, with_part(chargeTotalCurrent=0.1, chargeTotalBefore=3765.44)
        )
        fifth = await post(
            client, world.ada_token, with_part(chargeTotalCurrent=0.2, chargeTotalBefore=3765.34)
        )
    # then every amount is the exact decimal, never a float's neighbour
    assert cents.status_code == 200, cents.text
    assert '"amountPaid":1234.56,' in cents.text
    assert '"balanceDue":3765.44,' in cents.text
    assert '"walletBalance":47765.44,' in cents.text
    assert tenth.status_code == 200, tenth.text
    assert '"amountPaid":0.1,' in tenth.text
    assert fifth.status_code == 200, fifth.text
    assert '"balanceDue":3765.14,' in fifth.text
    assert decoded(fifth)["walletBalance"] == Decimal("47765.14")
    assert (await wallet_books(db, world.ada, "NGN")).balance == 4_776_514


async def test_a_usd_wallet_pays_an_ngn_invoice_with_the_debit_rounded_up(db: Database) -> None:
    # given Ada's open NGN invoice of 5000 and her USD wallet of 500
    world = await given_books(db)
    body = with_part(currency="USD", exchangeRate=1500.5, chargeTotalCurrent=5000)
    async with client_for(db) as client:
        # when she pays it all from USD at 1500.5 NGN per USD (3.3322… USD)
        response = await post(client, world.ada_token, body)
    # then it is paid with a debit of 3.34 USD (rounding never favours the payer), and her
    # NGN wallet is untouched
    assert response.status_code == 200, response.text
    answer = decoded(response)
    assert (answer["status"], answer["amount"], answer["amountPaid"]) == ("paid", 5000, 5000)
    assert (answer["currency"], answer["walletCurrency"]) == ("NGN", "USD")
    assert '"walletBalance":496.66,' in response.text
    assert (await wallet_books(db, world.ada, "USD")).balance == 49_666
    assert (await wallet_books(db, world.ada, "NGN")).balance == 4_900_000


# --- the body size limit --------------------------------------------------------------


def padded(size: int) -> bytes:
    """BASE as JSON, padded with trailing whitespace to exactly `size` bytes."""
    body = raw(BASE)
    return body + b" " * (size - len(body))


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


async def test_a_body_over_64_kib_is_too_large(db: Database) -> None:
    # given Ada's open invoice
    world = await given_books(db)
    over = padded(rest.MAX_BODY_BYTES + 1)
    before = await snapshot_all(db)
    async with client_for(db) as client:
        # when a body one byte over 64 KiB is sent, with its length declared and streamed
        declared = await post(client, world.ada_token, content=over)
        streamed = await client.post(
            PATH,
            content=_chunks(over),
            headers={"Authorization": f"Bearer {world.ada_token}"},
        )
    # then 413 both ways, and nothing was written
    assert "content-length" not in streamed.request.headers
    for response in (declared, streamed):
        assert_answer(response, 413, rest.TOO_LARGE, "PAYLOAD_TOO_LARGE")
    assert await snapshot_all(db) == before


async def test_a_body_of_exactly_64_kib_is_read(db: Database) -> None:
    # given Ada's open invoice
    world = await given_books(db)
    async with client_for(db) as client:
        # when BASE padded to exactly 64 KiB is sent
        response = await post(client, world.ada_token, content=padded(rest.MAX_BODY_BYTES))
    # then it pays
    assert response.status_code == 200, response.text


async def test_a_body_too_large_without_a_token_is_unauthorized(db: Database) -> None:
    # given the books
    await given_books(db)
    # when an oversized body comes without a token
    response = await refused(db, None, content=padded(rest.MAX_BODY_BYTES * 2))
    # then the token is checked first
    assert_answer(response, 401, "Unauthorized", "UNAUTHENTICATED")
