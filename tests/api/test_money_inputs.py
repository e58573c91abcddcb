"""Money inputs have one meaning or none (docs/design.md), on both backends: a body a gateway could
read as another payment than the one made is refused before anything runs, and nothing is
written. REST: unknown or misspelt fields, repeated keys and values of the wrong JSON type
are 400 `Missing One or More Required Parameters` with `param` naming the field. GraphQL:
a repeated key is a 400 with no data (HTTP) or closes the socket (4400); a `Decimal` in
another script's digits is BAD_USER_INPUT."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from starlette.types import Message

from app.api.rest import route as rest
from app.api.rest.openapi import openapi_document
from app.db.engine import Database
from app.kit import strict_json
from app.web import create_app
from tests.support import (
    client_for,
    invoice,
    make_world,
    snapshot,
)
from tests.support import test_settings as settings_for

PATH = rest.PATH
NUMBER = 100123  # Ada's NGN invoice of 15000.00


def written_in(zero: int, number: str) -> str:
    """`number` with its digits in the script whose zero is code point `zero` (by code
    point, as these digits look like other characters)."""
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in number)


ARABIC_INDIC, EXTENDED_ARABIC_INDIC, FULLWIDTH, DEVANAGARI = 0x660, 0x6F0, 0xFF10, 0x966

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename ... on PayInvoiceSuccess { payment { id } } }
}
"""


def part(fields: str) -> bytes:
    """A REST body paying Ada's invoice with `fields` as its part payment, as raw JSON
    (a dict could not repeat a key)."""
    return (
        f'{{"invoice": {NUMBER}, "currency": "NGN", "partPaymentFromWalletBalance": '
        f'{{"currency": "NGN", "exchangeRate": 1, {fields}}}}}'
    ).encode()


ATTACKS = [
    pytest.param(
        part('"chargetotalcurrent": 5'),
        "partPaymentFromWalletBalance.chargetotalcurrent",
        id="misspelt chargeTotalCurrent (would pay the whole invoice)",
    ),
    pytest.param(
        f'{{"invoice": {NUMBER}, "currency": "NGN", "amount": 5}}'.encode(),
        "amount",
        id="top-level amount (would pay the whole invoice)",
    ),
    pytest.param(
        part('"chargeTotalCurrent": 5, "chargeTotalCurrent": 7'),
        "partPaymentFromWalletBalance.chargeTotalCurrent",
        id="chargeTotalCurrent twice",
    ),
    pytest.param(
        f'{{"invoice": {NUMBER}, "invoice": 1, "currency": "NGN"}}'.encode(),
        "invoice",
        id="invoice twice",
    ),
    pytest.param(
        part('"chargeTotalCurrent": 5, "currency": "USD"'),
        "partPaymentFromWalletBalance.currency",
        id="wallet currency twice",
    ),
    pytest.param(
        part('"chargeTotalCurrent": "5"'),
        "partPaymentFromWalletBalance.chargeTotalCurrent",
        id="amount a string",
    ),
    pytest.param(
        part('"chargeTotalCurrent": true'),
        "partPaymentFromWalletBalance.chargeTotalCurrent",
        id="amount a boolean",
    ),
    pytest.param(
        part(f'"chargeTotalCurrent": "{written_in(ARABIC_INDIC, "10")}"'),
        "partPaymentFromWalletBalance.chargeTotalCurrent",
        id="amount in Arabic-Indic digits",
    ),
    pytest.param(
        f'{{"invoice": "{written_in(ARABIC_INDIC, str(NUMBER))}", "currency": "NGN"}}'.encode(),
        "invoice",
        id="invoice in Arabic-Indic digits",
    ),
    pytest.param(
        part('"exchangeRate": 1, "chargeTotalCurrent": 5'),
        "partPaymentFromWalletBalance.exchangeRate",
        id="exchangeRate twice, same value",
    ),
]


async def given_invoice(db: Database) -> str:
    """Ada's invoice 100123 of 15000 NGN (her wallet holds 50000); her token."""
    world = await make_world(db)
    await invoice(db, NUMBER, world.ada, "15000")
    return world.ada_token


async def post_rest(client: httpx.AsyncClient, token: str, content: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return await client.post(PATH, content=content, headers=headers)


@pytest.mark.parametrize(("content", "param"), ATTACKS)
async def test_rest_refuses_a_body_with_a_second_meaning(
    db: Database, content: bytes, param: str
) -> None:
    # given Ada's open invoice
    token = await given_invoice(db)
    before = await snapshot(db)
    # when the body has an unknown, misspelt, repeated or mistyped field
    async with client_for(db) as client:
        response = await post_rest(client, token, content)
    # then 400, the field named, nothing written
    assert response.status_code == 400, response.text
    assert response.json() == {"message": rest.MISSING_PARAMETERS, "param": param}
    assert response.headers["X-Error-Code"] == "BAD_USER_INPUT"
    assert await snapshot(db) == before


async def test_the_well_spelt_part_payment_pays_exactly_its_amount(db: Database) -> None:
    # given Ada's open invoice of 15000
    token = await given_invoice(db)
    # when the misspelt attack's body is sent with the right spelling
    async with client_for(db) as client:
        response = await post_rest(client, token, part('"chargeTotalCurrent": 5'))
    # then 5.00 is paid, not the whole invoice
    assert response.status_code == 200, response.text
    assert (response.json()["amountPaid"], response.json()["balanceDue"]) == (5, 14995)


async def test_an_unknown_key_with_a_lone_surrogate_is_named_without_failing(
    db: Database,
) -> None:
    # given Ada's open invoice
    token = await given_invoice(db)
    # when an unknown key holds a lone surrogate (orjson cannot write one)
    content = f'{{"invoice": {NUMBER}, "currency": "NGN", "\\ud800x": 1}}'.encode()
    async with client_for(db) as client:
        response = await post_rest(client, token, content)
    # then it is named, escaped
    assert response.status_code == 400, response.text
    assert response.json()["param"] == "\\ud800x"


def graphql_body(variables: str) -> bytes:
    return ('{"query": ' + json.dumps(PAY) + ', "variables": ' + variables + "}").encode()


GRAPHQL_DUPLICATES = [
    pytest.param(
        graphql_body(
            '{"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "5", "amount": "7"}}'
        ),
        "variables.input.amount",
        id="amount twice",
    ),
    pytest.param(
        graphql_body('{"input": {"invoiceNumber": 100123, "currency": "NGN"}}')[:-1]
        + b', "query": "mutation { __typename }"}',
        "query",
        id="query twice",
    ),
    pytest.param(
        graphql_body(
            '{"input": {"invoiceNumber": 1, "currency": "NGN"},'
            ' "input": {"invoiceNumber": 100123, "currency": "NGN"}}'
        ),
        "variables.input",
        id="input twice",
    ),
]


@pytest.mark.parametrize(("content", "path"), GRAPHQL_DUPLICATES)
async def test_graphql_refuses_a_body_with_a_repeated_key(
    db: Database, content: bytes, path: str
) -> None:
    # given Ada's open invoice
    token = await given_invoice(db)
    before = await snapshot(db)
    # when the GraphQL body repeats a key
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with client_for(db) as client:
        response = await client.post("/graphql", content=content, headers=headers)
    # then 400 with no data, the key named, nothing written
    assert response.status_code == 400, response.text
    assert '"data"' not in response.text
    assert path in response.text
    assert await snapshot(db) == before


async def test_graphql_refuses_get_variables_with_a_repeated_key(db: Database) -> None:
    # given Ada's open invoice
    token = await given_invoice(db)
    # when a GET's `variables` repeat a key
    params = {
        "query": "query Invoice($number: Int!) { invoice(number: $number) { number } }",
        "variables": '{"number": 1, "number": 100123}',
    }
    async with client_for(db) as client:
        response = await client.get(
            "/graphql", params=params, headers={"Authorization": f"Bearer {token}"}
        )
    # then 400 with no data
    assert response.status_code == 400, response.text
    assert response.text == "Duplicate key in JSON: number"


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(written_in(ARABIC_INDIC, "10"), id="Arabic-Indic"),
        pytest.param(written_in(EXTENDED_ARABIC_INDIC, "10"), id="Extended Arabic-Indic"),
        pytest.param(written_in(FULLWIDTH, "10.00"), id="fullwidth"),
        pytest.param(written_in(DEVANAGARI, "10"), id="Devanagari"),
        pytest.param("1" + written_in(ARABIC_INDIC, "0.0") + "0", id="mixed scripts"),
        pytest.param("10\n", id="trailing newline"),
    ],
)
async def test_graphql_refuses_a_decimal_in_other_digits(db: Database, amount: str) -> None:
    # given Ada's open invoice
    token = await given_invoice(db)
    before = await snapshot(db)
    # when the amount is written in another script's digits (Decimal() would read 10)
    request = {"invoiceNumber": NUMBER, "currency": "NGN", "amount": amount}
    async with client_for(db) as client:
        response = await client.post(
            "/graphql",
            json={"query": PAY, "variables": {"input": request}},
            headers={"Authorization": f"Bearer {token}"},
        )
    # then BAD_USER_INPUT, no data, nothing written
    body = response.json()
    assert body.get("data") is None, body
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_USER_INPUT"]
    assert await snapshot(db) == before


WS_DUPLICATES = [
    pytest.param(
        '{"type": "connection_init",'
        ' "payload": {"Authorization": "Bearer a", "Authorization": "Bearer b"}}',
        id="two tokens in connection_init",
    ),
    pytest.param(
        '{"id": "1", "type": "subscribe", "payload": {"query": "subscription { payments { id } }",'
        ' "variables": {}, "variables": {"x": 1}}}',
        id="variables twice in subscribe",
    ),
]


async def websocket_exchange(db: Database, text: str) -> list[Message]:
    """What the app sends on a graphql-transport-ws connection whose one message is
    `text`, driven over ASGI itself (the sockets of a live server are the slow suite's)."""
    app = create_app(settings_for(db.url), db=db)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    for message in ({"type": "websocket.connect"}, {"type": "websocket.receive", "text": text}):
        inbox.put_nowait(message)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": message.get("code")})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"sec-websocket-protocol", b"graphql-transport-ws")],
        "subprotocols": ["graphql-transport-ws"],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    await asyncio.wait_for(app(scope, inbox.get, send), 10)
    return sent


@pytest.mark.parametrize("message", WS_DUPLICATES)
async def test_a_websocket_message_with_a_repeated_key_closes_the_connection(
    db: Database, message: str
) -> None:
    # given a graphql-transport-ws connection
    # when its first message repeats a key
    sent = await websocket_exchange(db, message)
    # then it is closed as a message that is not JSON (4400), never acknowledged
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"], sent
    assert sent[-1]["code"] == 4400


async def test_a_websocket_message_without_a_repeated_key_is_read(db: Database) -> None:
    # given the subscribe message of the previous test without its repeated key
    message = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
    # when it comes before connection_init
    sent = await websocket_exchange(db, message)
    # then it is read, and refused as unauthorised (4401), not as unreadable
    assert sent[-1]["code"] == 4401, sent


def test_strict_json_names_the_first_repeated_key_by_its_path() -> None:
    raw = '{"a": [{"b": 1}, {"c": {"d": 1, "d": 2}}], "e": 1}'
    with pytest.raises(strict_json.DuplicateKey) as found:
        strict_json.loads(raw)
    assert found.value.path == "a[1].c.d"
    assert strict_json.loads('{"a": {"a": 1}, "b": [{"a": 2}]}') == {"a": {"a": 1}, "b": [{"a": 2}]}


def test_strict_json_refuses_broken_json_after_a_repeated_key_as_broken() -> None:
    with pytest.raises(json.JSONDecodeError) as found:
        strict_json.loads('{"a": 1, "a": 2, ')
    assert not isinstance(found.value, strict_json.DuplicateKey)


def test_duplicate_detection_costs_little_per_request() -> None:
    """The hot path's price: the GraphQL pay body decoded with and without the check."""
    body = graphql_body(
        '{"input": {"invoiceNumber": 100123, "currency": "NGN", "amount": "5000.00",'
        ' "walletCurrency": "NGN", "exchangeRate": "1", "idempotencyKey": "k-1"}}'
    )
    runs = 20_000

    def per_call(decode: Any) -> float:
        started = time.perf_counter()
        for _ in range(runs):
            decode(body)
        return (time.perf_counter() - started) / runs * 1e6

    plain = min(per_call(json.loads) for _ in range(3))
    strict = min(per_call(strict_json.loads) for _ in range(3))
    print(f"decode: json.loads {plain:.2f} µs, strict_json.loads {strict:.2f} µs")
    assert strict < plain + 20  # µs: well under a request's own cost (~1 ms)


def test_the_openapi_request_schema_lists_exactly_the_fields_the_route_takes() -> None:
    # the route's field sets and the hand-written document cannot drift apart
    operation = openapi_document()["paths"][PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    part_schema = schema["properties"][rest.PART]
    assert set(schema["properties"]) == rest.BODY_FIELDS
    assert set(part_schema["properties"]) == rest.PART_FIELDS
    assert schema["additionalProperties"] is False
    assert part_schema["additionalProperties"] is False
