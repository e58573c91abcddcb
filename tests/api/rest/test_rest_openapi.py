"""The OpenAPI 3.1 document at /api/v1/openapi.json, on both backends: a valid document,
and the route's real answers (200, every 4xx, a 500) match what it says of their status,
body and headers; the request schema accepts what the route accepts and refuses what the
route refuses as a missing or mistyped parameter."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import app.api.rest.route
from app.api.rest.openapi import OPENAPI_PATH, openapi_document
from app.billing import admin
from app.db.engine import Database
from app.payments import PayInvoice, pay_invoice
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    SEED_REQUEST,
    World,
    client_for,
    invoice,
    make_world,
    suspend,
)

PATH = "/api/v1/billing/invoice/pay"
DOCUMENT_URI = "urn:invoicepay:openapi"
OPERATION_POINTER = "#/paths/~1api~1v1~1billing~1invoice~1pay/post"
# Plain HTTP headers, which OpenAPI leaves undocumented.
HTTP_HEADERS = {"content-type", "content-length", "cache-control"}
MISSING_PARAMETERS = {"message": "Missing One or More Required Parameters"}

OPEN = 100  # Ada's NGN invoice of 5000.00
BOLAS = 200  # Bola's NGN invoice of 2500.00 (he has 1000.00)
PAID = 300  # Ada's paid NGN invoice
VOIDED = 400  # Ada's void NGN invoice


def operation(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][PATH]["post"]
    return found


def validator_for(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for the schema at `pointer` in `document`, so any
    `$ref` inside it resolves against the document itself."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}{pointer}"}, registry=registry)


def _header_value(value: str, schema: dict[str, Any]) -> Any:
    """A header's text as the JSON value its schema describes."""
    if schema.get("type") == "integer":
        assert value.isdigit(), value
        return int(value)
    return value


def assert_documented(document: dict[str, Any], response: httpx.Response) -> None:
    """`response` is what the document says of its status: body schema and headers."""
    status = str(response.status_code)
    responses = operation(document)["responses"]
    assert status in responses, f"undocumented status {status}: {response.text}"
    media_type = response.headers["content-type"].split(";")[0].strip()
    content = responses[status]["content"]
    assert media_type in content, (status, media_type)
    pointer = f"{OPERATION_POINTER}/responses/{status}/content/{media_type.replace('/', '~1')}"
    body = json.loads(response.text, parse_float=Decimal)
    errors = [
        error.message for error in validator_for(document, f"{pointer}/schema").iter_errors(body)
    ]
    assert errors == [], (status, body, errors)
    documented = responses[status].get("headers", {})
    for name, header in documented.items():
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required", False), (status, f"{name} missing")
            continue
        Draft202012Validator(header["schema"]).validate(_header_value(value, header["schema"]))
    # and it sends no header of its own that the document does not mention
    known = {name.lower() for name in documented} | HTTP_HEADERS
    assert set(response.headers.keys()) <= known, (status, set(response.headers.keys()) - known)


# --- the document ---------------------------------------------------------------------


async def test_the_document_is_served_and_is_valid_openapi_3_1(db: Database) -> None:
    # when the document is fetched
    async with client_for(db) as client:
        response = await client.get(OPENAPI_PATH)
    # then it is JSON, valid OpenAPI 3.1, and describes the seed's operation
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"
    assert operation(document)["operationId"] == "pay-invoice-from-wallet"
    assert document == json.loads(json.dumps(openapi_document()))


def test_the_examples_are_the_seeds_and_match_the_schemas() -> None:
    # given the document's examples
    document = openapi_document()
    content = operation(document)["requestBody"]["content"]["application/json"]
    success = operation(document)["responses"]["200"]["content"]["application/json"]
    # then the request example is the seed document's, and both validate
    assert content["example"] == json.loads(SEED_REQUEST)
    request_pointer = f"{OPERATION_POINTER}/requestBody/content/application~1json/schema"
    validator_for(document, request_pointer).validate(content["example"])
    response_pointer = f"{OPERATION_POINTER}/responses/200/content/application~1json/schema"
    validator_for(document, response_pointer).validate(success["example"])


# --- real answers against the document ------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    status: int
    run: Callable[[Database, World, pytest.MonkeyPatch], Awaitable[httpx.Response]]


def pay_from(
    token_of: Callable[[World], str | None],
    body: Any,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    times: int = 1,
    peer: str = "127.0.0.1",
    **settings: Any,
) -> Callable[[Database, World, pytest.MonkeyPatch], Awaitable[httpx.Response]]:
    """A scenario sending one request `times` times; the last answer."""

    async def run(db: Database, world: World, _monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
        token = token_of(world)
        sent = {**(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body).encode() if content is None else content
        async with client_for(db, peer=peer, **settings) as client:
            for _ in range(times):
                response = await client.post(PATH, content=payload, headers=sent)
        return response

    return run


def ada(world: World) -> str:
    return world.ada_token


def bola(world: World) -> str:
    return world.bola_token


def an_admin(world: World) -> str:
    return world.admin_token


def nobody(_world: World) -> None:
    return None


async def suspended_ada(db: Database, world: World, mp: pytest.MonkeyPatch) -> httpx.Response:
    await suspend(db, world.ada)
    return await pay_from(ada, {"invoice": OPEN, "currency": "NGN"})(db, world, mp)


async def key_reused(db: Database, world: World, mp: pytest.MonkeyPatch) -> httpx.Response:
    key = {"Idempotency-Key": "k-1"}
    part = {"invoice": OPEN, "currency": "NGN", "partPaymentFromWalletBalance": {}}
    first = await pay_from(
        ada, {**part, "partPaymentFromWalletBalance": {"chargeTotalCurrent": 100}}, headers=key
    )(db, world, mp)
    assert first.status_code == 200, first.text
    return await pay_from(
        ada, {**part, "partPaymentFromWalletBalance": {"chargeTotalCurrent": 200}}, headers=key
    )(db, world, mp)


async def broken_service(db: Database, world: World, mp: pytest.MonkeyPatch) -> httpx.Response:
    async def fail(*_args: object, **_kwargs: object) -> Any:
        raise RuntimeError("SELECT balance FROM wallets")

    mp.setattr(app.api.rest.route, "pay_invoice", fail)
    return await pay_from(ada, {"invoice": OPEN, "currency": "NGN"})(db, world, mp)


async def database_gone(db: Database, world: World, mp: pytest.MonkeyPatch) -> httpx.Response:
    async def fail(*_args: object, **_kwargs: object) -> Any:
        raise ConnectionResetError("connection reset by peer")

    mp.setattr(app.api.rest.route, "pay_invoice", fail)
    return await pay_from(ada, {"invoice": OPEN, "currency": "NGN"})(db, world, mp)


ONE_THOUSAND = {
    "invoice": OPEN,
    "currency": "NGN",
    "partPaymentFromWalletBalance": {"chargeTotalCurrent": 1000},
}
BOLAS_IN_FULL = {"invoice": BOLAS, "currency": "NGN"}

SCENARIOS: dict[str, Scenario] = {
    "paid": Scenario(200, pay_from(ada, ONE_THOUSAND)),
    "paid, replayed": Scenario(
        200, pay_from(ada, ONE_THOUSAND, headers={"Idempotency-Key": "k"}, times=2)
    ),
    "missing parameter": Scenario(400, pay_from(ada, {"currency": "NGN"})),
    "unknown parameter": Scenario(400, pay_from(ada, {**ONE_THOUSAND, "amount": 5})),
    "malformed JSON": Scenario(400, pay_from(ada, None, content=b'{"invoice": ')),
    "ownership mismatch": Scenario(400, pay_from(ada, BOLAS_IN_FULL)),
    "currency mismatch": Scenario(400, pay_from(ada, {"invoice": OPEN, "currency": "USD"})),
    "already paid": Scenario(400, pay_from(ada, {"invoice": PAID, "currency": "NGN"})),
    "void": Scenario(400, pay_from(ada, {"invoice": VOIDED, "currency": "NGN"})),
    "wallet not found": Scenario(
        400,
        pay_from(
            ada,
            {
                "invoice": OPEN,
                "currency": "NGN",
                "partPaymentFromWalletBalance": {"currency": "EUR", "exchangeRate": 1600},
            },
        ),
    ),
    "wrong amount": Scenario(
        400,
        pay_from(
            ada,
            {
                "invoice": OPEN,
                "currency": "NGN",
                "partPaymentFromWalletBalance": {"chargeTotalCurrent": 0},
            },
        ),
    ),
    "insufficient funds": Scenario(400, pay_from(bola, BOLAS_IN_FULL)),
    "insufficient funds, replayed": Scenario(
        400, pay_from(bola, BOLAS_IN_FULL, headers={"Idempotency-Key": "k"}, times=2)
    ),
    "no token": Scenario(401, pay_from(nobody, ONE_THOUSAND)),
    "another tenant's cloneId": Scenario(
        403, pay_from(ada, {**ONE_THOUSAND, "cloneId": OTHER_CLONE})
    ),
    "suspended customer": Scenario(403, suspended_ada),
    "blocked address": Scenario(
        403, pay_from(ada, ONE_THOUSAND, peer="203.0.113.9", blocked_ips=("203.0.113.0/24",))
    ),
    "an admin is no customer": Scenario(404, pay_from(an_admin, ONE_THOUSAND)),
    "unknown currency": Scenario(404, pay_from(ada, {"invoice": OPEN, "currency": "ZZZ"})),
    "unknown invoice": Scenario(404, pay_from(ada, {"invoice": 999, "currency": "NGN"})),
    "key reused": Scenario(409, key_reused),
    "body too large": Scenario(413, pay_from(ada, None, content=b" " * (64 * 1024 + 1))),
    "rate limited": Scenario(429, pay_from(ada, ONE_THOUSAND, times=2, rate_limit="1/minute")),
    "unexpected failure": Scenario(500, broken_service),
    "database unavailable": Scenario(503, database_gone),
}


async def given_books(db: Database) -> World:
    world = await make_world(db)
    await invoice(db, OPEN, world.ada, "5000")
    await invoice(db, BOLAS, world.bola, "2500")
    await invoice(db, PAID, world.ada, "1000")
    await pay_invoice(db, PayInvoice(DEMO_CLONE, world.ada, PAID, "NGN"))
    await invoice(db, VOIDED, world.ada, "1000")
    await admin.void_invoice(db, DEMO_CLONE, VOIDED)
    return world


def test_every_documented_status_is_exercised() -> None:
    documented = {int(status) for status in operation(openapi_document())["responses"]}
    assert {scenario.status for scenario in SCENARIOS.values()} == documented


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_real_answer_matches_the_document(
    db: Database, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # given the books, and the document as served
    world = await given_books(db)
    async with client_for(db) as client:
        document = (await client.get(OPENAPI_PATH)).json()
    # when the route answers the scenario
    scenario = SCENARIOS[name]
    response = await scenario.run(db, world, monkeypatch)
    # then with the expected status, and as its documented response says
    assert response.status_code == scenario.status, response.text
    assert_documented(document, response)
    if name.endswith("replayed"):
        assert response.headers["Idempotent-Replayed"] == "true"


# --- the request schema and the route agree -------------------------------------------

REQUESTS: list[Any] = [
    pytest.param(b'{"invoice": 100, "currency": "NGN"}', id="minimal"),
    pytest.param(
        b'{"cloneId": "64f000000000000000000002", "invoice": 100, "currency": "NGN",'
        b' "partPaymentFromWalletBalance": {"currency": "NGN", "exchangeRate": 1,'
        b' "chargeTotalBefore": 5000, "chargeTotalCurrent": 1000},'
        b' "applyEarlyPaymentDiscount": false, "reference": "r", "memo": "m",'
        b' "accountingCode": "a"}',
        id="every field",
    ),
    pytest.param(b'{"invoice": 100.0, "currency": "NGN"}', id="integral invoice 100.0"),
    pytest.param(
        b'{"invoice": 100, "currency": "NGN", "partPaymentFromWalletBalance": null}',
        id="part payment null",
    ),
    pytest.param(b'{"invoice": 100, "currency": "NGN", "reference": null}', id="reference null"),
    pytest.param(b'{"currency": "NGN"}', id="invoice missing"),
    pytest.param(b'{"invoice": 100}', id="currency missing"),
    pytest.param(b'{"invoice": "100", "currency": "NGN"}', id="invoice a string"),
    pytest.param(b'{"invoice": 100.5, "currency": "NGN"}', id="invoice 100.5"),
    pytest.param(b'{"invoice": true, "currency": "NGN"}', id="invoice a boolean"),
    pytest.param(b'{"invoice": 2147483648, "currency": "NGN"}', id="invoice over int32"),
    pytest.param(b'{"invoice": 100, "currency": 566}', id="currency a number"),
    pytest.param(b'{"invoice": 100, "currency": "NGNNGNNGNNGNNGNNGN"}', id="currency too long"),
    pytest.param(
        b'{"invoice": 100, "currency": "NGN", "partPaymentFromWalletBalance": "5000"}',
        id="part payment a string",
    ),
    pytest.param(
        b'{"invoice": 100, "currency": "NGN",'
        b' "partPaymentFromWalletBalance": {"chargeTotalCurrent": "5000"}}',
        id="chargeTotalCurrent a string",
    ),
    pytest.param(b'{"invoice": 100, "currency": "NGN", "reference": 42}', id="reference a number"),
    pytest.param(
        b'{"invoice": 100, "currency": "NGN", "memo": "' + b"m" * 1001 + b'"}', id="memo too long"
    ),
    pytest.param(
        b'{"invoice": 100, "currency": "NGN", "applyEarlyPaymentDiscount": "yes"}',
        id="discount flag a string",
    ),
    pytest.param(b'[{"invoice": 100, "currency": "NGN"}]', id="an array"),
    pytest.param(b'{"invoice": 100, "currency": "NGN", "amount": 5}', id="unknown field"),
    pytest.param(
        b'{"invoice": 100, "currency": "NGN",'
        b' "partPaymentFromWalletBalance": {"chargetotalcurrent": 5}}',
        id="misspelt part payment field",
    ),
]


@pytest.mark.parametrize("content", REQUESTS)
async def test_the_request_schema_refuses_exactly_what_the_route_calls_malformed(
    db: Database, content: bytes
) -> None:
    # given Ada's open invoice 100, and the document's request schema
    world = await given_books(db)
    pointer = f"{OPERATION_POINTER}/requestBody/content/application~1json/schema"
    schema = validator_for(openapi_document(), pointer)
    # when the body is sent
    async with client_for(db) as client:
        response = await client.post(
            PATH, content=content, headers={"Authorization": f"Bearer {world.ada_token}"}
        )
    # then the route calls it malformed exactly when the schema refuses it
    body = json.loads(content)  # JSON Schema's view: 100.0 is an integer
    refused_by_route = (
        response.status_code == 400 and response.json()["message"] == MISSING_PARAMETERS["message"]
    )
    assert schema.is_valid(body) is not refused_by_route, response.text
