"""Nothing secret reaches a log: a real `invoicepay serve` (tests/support/live.py) at DEBUG and at
INFO is driven through success and every kind of failure, over REST, GraphQL (POST, GET)
and a websocket, with card numbers in every place a client can put one (memo, reference,
accounting code, idempotency key, cloneId, headers, query strings, GraphQL variables and
literals) and tokens valid, expired, revoked, forged and misplaced. Then the whole log
(stdout and stderr) must hold:

- no token we issued or sent, nor any 12-character stretch of a token's signature;
- no stretch of `JWT_SECRET`;
- no value of an `Authorization` header we sent;
- no card number: neither one we sent (whatever its separators) nor any other run of
  13-19 digits that passes the Luhn check.

The CLI commands that handle secrets are held to the same rule for what they write
besides their product: `invoicepay token` prints the token alone on stdout (its
purpose), `seed --demo` prints ready tokens (its purpose); neither may show a token on
stderr, nor the secret anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app.api.graphql.types import encode_cursor
from app.auth.tokens import issue_token
from app.billing import admin
from app.cli import commands as cli
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuthSession
from app.kit.redact import redact
from app.seed.demo import DEMO_CLONE_ID
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    REST_PAY,
    SECRET,
    client_for,
    error_codes,
    gql,
    invoice,
    make_world,
)
from tests.support.figures import report
from tests.support.live import LiveServer, live_server, server_env

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it

STRETCH = 12  # characters of a signature or secret that may not show anywhere
RATE_LIMIT = 20  # payment attempts a minute, per customer and per client IP
GRAPHQL_PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename ... on Error { code message } }
}
"""


# --- what must never show ----------------------------------------------------------------------


def luhn_check_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


def luhn_valid(digits: str) -> bool:
    return luhn_check_digit(digits[:-1]) == digits[-1]


@dataclass
class Secrets:
    """Everything this test made or sent that no log line may hold."""

    jwt_secret: str
    tokens: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)  # header values, not tokens
    cards: list[str] = field(default_factory=list)  # digits only
    _serial: Iterator[int] = field(default_factory=lambda: iter(range(1, 10_000)))

    def card(self, separator: str = "", length: int | None = None) -> str:
        """A new card number (13-19 digits, Luhn-valid), grouped by `separator`."""
        serial = next(self._serial)
        length = length or 13 + serial % 7
        body = f"4{serial:0{length - 2}d}"
        digits = body + luhn_check_digit(body)
        assert luhn_valid(digits) and len(digits) == length
        self.cards.append(digits)
        if not separator:
            return digits
        return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))

    def token(self, token: str) -> str:
        self.tokens.append(token)
        return token


def _stretches(value: str, size: int) -> Iterator[str]:
    """Every `size`-character stretch of `value` (none of an empty value)."""
    for start in range(len(value) - size + 1 if len(value) >= size else min(1, len(value))):
        yield value[start : start + size]


SEPARATOR = r"(?:[ +-]|%20)?"  # a space, a dash, or a space URL-encoded
CARD_LIKE = re.compile(rf"\d(?:{SEPARATOR}\d)*")


def card_like_runs(text: str) -> list[str]:
    """Runs of digits (single separators between them, not inside a word) that hold a
    13-19 digit stretch passing the Luhn check, not starting with 0 (no card number does,
    ISO/IEC 7812). The cards a test sent are looked for exactly, wherever they are."""
    found = []
    for match in CARD_LIKE.finditer(text):
        start, end = match.start(), match.end()
        if re.match(r"[A-Za-z]", text[start - 1 : start]) or re.match(r"[A-Za-z]", text[end:]):
            continue  # digits inside a word: an id (request id, wal_…), as in the redactor
        digits = re.sub(r"%20|\D", "", match.group())
        if any(
            digits[first] != "0" and luhn_valid(digits[first : first + length])
            for length in range(13, min(19, len(digits)) + 1)
            for first in range(len(digits) - length + 1)
        ):
            found.append(match.group())
    return found


def leaks(text: str, held: Secrets) -> list[str]:
    """What of `held` shows in `text` (empty: nothing)."""
    found: list[str] = []
    for token in held.tokens:
        if token in text:
            found.append(f"token {token[:12]}…")
        signature = token.rpartition(".")[2]
        found += [f"signature stretch {s!r}" for s in _stretches(signature, STRETCH) if s in text]
    found += [
        f"JWT_SECRET stretch {s!r}" for s in _stretches(held.jwt_secret, STRETCH) if s in text
    ]
    for value in held.authorizations:
        credentials = value.partition(" ")[2] or value
        if credentials in text:
            found.append(f"Authorization value {value!r}")
    for digits in held.cards:
        if re.search(SEPARATOR.join(digits), text):
            found.append(f"card {digits}")
    found += [f"card-like {run!r}" for run in card_like_runs(text)]
    return found


def test_the_leak_scan_finds_what_it_looks_for() -> None:
    # given a secret, a token and card numbers
    held = Secrets(jwt_secret=secrets.token_urlsafe(48))
    token = held.token(jwt.encode({"sub": "x"}, held.jwt_secret, algorithm="HS256"))
    spaced, plain = held.card(" "), held.card()
    # when lines hold them whole, in part, or grouped otherwise
    lines = {
        "the token": f"header {token}",
        "the end of its signature": f"frame ...{token[-20:]}'",
        "the secret": f"secret={held.jwt_secret[5:25]}",
        "a spaced card": f"memo {spaced}",
        "a card regrouped": f"memo {'-'.join(plain)}",
        "another card": "pan 4111-1111-1111-1111 here",
        "a card in a query string": "GET /graphql?variables=%7B%224111+1111+1111+1111%22",
    }
    # then each is found, and a line without them is clean
    for what, line in lines.items():
        assert leaks(line, held), what
    assert leaks("2026-11-21 21:49:45,267 INFO 127.0.0.1:52480 id 1795297783 ****1111", held) == []


def test_redaction_masks_secrets_and_keeps_what_a_log_line_needs() -> None:
    # given lines a log holds every day, and lines with secrets
    everyday = [
        "2026-11-21 21:49:45,267 INFO invoicepay [830a637c7bb14c018051b9d049af63ea] done",
        "cus_8d6f0c2a9e1b3c4d5e6f7a8b wal_0123456789abcdef01234567 tenant 64f000000000000000000002",
        "request 5e4f4111111111111111abc0 (digits inside an id)",
        '127.0.0.1:52480 - "POST /api/v1/billing/invoice/pay?invoice=100123 HTTP/1.1" 200 OK',
        "paid 15000.00 NGN, balance 4999999999.99, exp 1795297783, 1234567890123 (not Luhn)",
        'File "/work/main/app/graphql/mutations.py", line 131, in create_invoice_from_input',
        "sqlalchemy.exc.DBAPIError: (sqlalchemy.dialects.postgresql.asyncpg.Error) timeout",
    ]
    token = jwt.encode({"sub": "cus_1", "exp": 1795297783}, secrets.token_urlsafe(48), "HS256")
    secret_lines = {
        "memo 4111 1111 1111 1111.": "memo **** **** **** 1111.",
        "GET /pay?pan=5500-0000-0000-0004&x=1": "GET /pay?pan=****-****-****-0004&x=1",
        "q=378282246310005+x": "q=***********0005+x",
        "v=4111+1111+1111+1111": "v=****+****+****+1111",
        "< authorization: Basic dXNlcjpwYXNz": "< authorization: [REDACTED]",
        "'Authorization': 'Bearer abc.def'": "'Authorization': '[REDACTED]'",
        f"token {token} end": "token [JWT] end",
        # cut short, as GraphQL errors cut long input: the signature still goes
        f"cut '...{token[-60:]}'": f"cut '...{token[-60:].rpartition('.')[0]}.[REDACTED]'",
    }
    # when they are redacted
    # then the everyday ones are left as they are, and the secrets are masked
    assert [redact(line) for line in everyday] == everyday
    assert {line: redact(line) for line in secret_lines} == secret_lines


# --- a world and its tokens ----------------------------------------------------------------


@dataclass
class Cast:
    """The demo tenant's Ada (pays), Bola (meets the rate limit) and admin; tokens of
    every kind; and what none of it may leak."""

    held: Secrets
    ada: str
    ada_token: str
    bola_token: str
    admin_token: str
    to_revoke: AuthSession
    revoked_token: str
    expired_token: str
    unknown_session_token: str
    forged_token: str
    unsigned_token: str


def unsigned(payload: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def claims(session: AuthSession, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": session.subject,
        "jti": session.jti,
        "clone_id": session.tenant_id,
        "scope": session.scope,
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


async def given_a_cast(db: Database, held: Secrets) -> Cast:
    settings = Settings(database_url=db.url, jwt_secret=held.jwt_secret)
    await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
    await admin.create_tenant(db, OTHER_CLONE, "Other Clone")
    ada = await admin.create_customer(db, DEMO_CLONE, "Ada Obi", "ada@example.com")
    bola = await admin.create_customer(db, DEMO_CLONE, "Bola Ade", "bola@example.com")
    await admin.top_up_wallet(db, DEMO_CLONE, ada.id, "NGN", Decimal("50000"))
    await admin.top_up_wallet(db, DEMO_CLONE, bola.id, "NGN", Decimal("1000"))
    await invoice(db, 100123, ada.id, "15000")
    await invoice(db, 200, bola.id, "500")

    async def session(customer: str | None) -> AuthSession:
        return await admin.create_session(db, DEMO_CLONE, customer_id=customer, ttl_seconds=600)

    def signed(session: AuthSession) -> str:
        return held.token(issue_token(settings, session))

    ada_session, to_revoke = await session(ada.id), await session(ada.id)
    expired = await session(ada.id)
    past = int(time.time()) - 60
    return Cast(
        held=held,
        ada=ada.id,
        ada_token=signed(ada_session),
        bola_token=signed(await session(bola.id)),
        admin_token=signed(await session(None)),
        to_revoke=to_revoke,
        revoked_token=signed(to_revoke),
        expired_token=held.token(
            jwt.encode(claims(expired, iat=past - 600, exp=past), held.jwt_secret, "HS256")
        ),
        unknown_session_token=held.token(
            jwt.encode(claims(ada_session, jti=secrets.token_hex(16)), held.jwt_secret, "HS256")
        ),
        forged_token=held.token(
            jwt.encode(claims(ada_session), secrets.token_urlsafe(48), "HS256")
        ),
        unsigned_token=held.token(unsigned(claims(ada_session))),
    )


# --- the requests ----------------------------------------------------------------------------


@dataclass
class Outcomes:
    """Every answer, by what it was meant to exercise."""

    statuses: dict[str, int] = field(default_factory=dict)
    graphql_codes: dict[str, list[str]] = field(default_factory=dict)
    unexpected_request_ids: list[str] = field(default_factory=list)

    def rest(self, what: str, response: httpx.Response) -> None:
        self.statuses[what] = response.status_code

    def graphql(self, what: str, response: httpx.Response) -> None:
        self.statuses[what] = response.status_code
        errors = response.json().get("errors") or []
        codes = [error.get("extensions", {}).get("code", "") for error in errors]
        self.graphql_codes[what] = codes
        if "INTERNAL_SERVER_ERROR" in codes:
            self.unexpected_request_ids.append(response.headers["x-request-id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def drive_rest(client: httpx.AsyncClient, cast: Cast, out: Outcomes) -> None:
    held = cast.held
    ada = bearer(cast.ada_token)
    key = held.card("-")
    paid = {
        "invoice": 100123,
        "currency": "NGN",
        "memo": f"card {held.card(' ')}",
        "reference": held.card("-"),
        "accountingCode": held.card(),
        "partPaymentFromWalletBalance": {"chargeTotalCurrent": 1},
    }
    noisy = {
        "X-Card": held.card(),
        "User-Agent": f"shop/1.0 ({held.card(' ')})",
        "Referer": f"https://shop.example/pay?pan={held.card()}",
        "X-Forwarded-For": held.card("-"),
    }
    url = f"{REST_PAY}?pan={held.card()}&spaced={held.card(' ')}"
    out.rest(
        "200 paid",
        await client.post(url, json=paid, headers={**ada, **noisy, "Idempotency-Key": key}),
    )
    out.rest(
        "200 replayed", await client.post(url, json=paid, headers={**ada, "Idempotency-Key": key})
    )
    other = {**paid, "memo": held.card(" ")}
    out.rest(
        "409 key reused",
        await client.post(REST_PAY, json=other, headers={**ada, "Idempotency-Key": key}),
    )

    body = {**paid, "memo": held.card(" ")}
    unauthenticated = {
        "401 no token": {},
        "401 not a token": {"Authorization": held_value(held, f"Bearer not-a-token-{held.card()}")},
        "401 basic": {"Authorization": held_value(held, basic(held))},
        "401 bare scheme": {"Authorization": "Bearer"},
        "401 expired": bearer(cast.expired_token),
        "401 unknown session": bearer(cast.unknown_session_token),
        "401 forged": bearer(cast.forged_token),
        "401 unsigned": bearer(cast.unsigned_token),
        "401 lowercase scheme": {"authorization": f"bearer {cast.forged_token}"},
    }
    for what, headers in unauthenticated.items():
        out.rest(
            what, await client.post(f"{REST_PAY}?pan={held.card()}", json=body, headers=headers)
        )

    out.rest(
        "403 cloneId",
        await client.post(REST_PAY, json={**body, "cloneId": held.card()}, headers=ada),
    )
    blocked = {**ada, "X-Forwarded-For": "203.0.113.9"}
    out.rest("403 blocked", await client.post(REST_PAY, json=body, headers=blocked))

    wrong = {**body, "invoice": 999_999}
    out.rest("404 invoice", await client.post(REST_PAY, json=wrong, headers=ada))
    out.rest(
        "404 currency",
        await client.post(REST_PAY, json={**body, "currency": held.card(length=16)}, headers=ada),
    )
    out.rest(
        "400 missing invoice",
        await client.post(REST_PAY, json={"currency": "NGN", "memo": held.card(" ")}, headers=ada),
    )
    out.rest(
        "400 invoice a card number",
        await client.post(REST_PAY, json={**body, "invoice": held.card()}, headers=ada),
    )
    out.rest(
        "400 not JSON",
        await client.post(
            REST_PAY,
            content=f'{{"memo": "{held.card(" ")}", "invoice": '.encode(),
            headers={**ada, "Content-Type": "application/json"},
        ),
    )
    long_memo = " ".join(held.card("-") for _ in range(60))
    out.rest(
        "400 memo too long",
        await client.post(REST_PAY, json={**body, "memo": long_memo}, headers=ada),
    )
    huge = {**body, "memo": (held.card(" ") + " ") * 4000}
    out.rest("413 too large", await client.post(REST_PAY, json=huge, headers=ada))

    # Bola, from his own address, until the rate limit answers.
    burst = {**body, "invoice": 200, "partPaymentFromWalletBalance": {"chargeTotalCurrent": 9e9}}
    headers = {**bearer(cast.bola_token), "X-Forwarded-For": "198.51.100.7"}
    for attempt in range(RATE_LIMIT + 1):
        response = await client.post(REST_PAY, json=burst, headers=headers)
        out.rest("429 rate limited" if attempt == RATE_LIMIT else "400 wrong amount", response)


def held_value(held: Secrets, value: str) -> str:
    held.authorizations.append(value)
    return value


def basic(held: Secrets) -> str:
    credentials = base64.b64encode(f"ada:{secrets.token_hex(12)}".encode()).decode()
    return f"Basic {credentials}"


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/graphql",
) -> httpx.Response:
    return await client.post(
        path, json={"query": query, "variables": variables or {}}, headers=headers or {}
    )


async def drive_graphql(client: httpx.AsyncClient, cast: Cast, out: Outcomes) -> None:
    held = cast.held
    ada = bearer(cast.ada_token)
    out.graphql("viewer", await graphql(client, "{ viewer { id } }", headers=ada))
    paid = {
        "invoiceNumber": 100123,
        "currency": "NGN",
        "amount": "1",
        "memo": held.card(" "),
        "reference": held.card("-"),
        "accountingCode": held.card(),
        "idempotencyKey": held.card(" "),
    }
    out.graphql("paid", await graphql(client, GRAPHQL_PAY, {"input": paid}, ada))
    mistyped = {"invoiceNumber": held.card(" "), "currency": "NGN"}
    out.graphql("variable a card", await graphql(client, GRAPHQL_PAY, {"input": mistyped}, ada))
    misplaced = {"invoiceNumber": cast.ada_token, "currency": "NGN"}
    out.graphql("variable a token", await graphql(client, GRAPHQL_PAY, {"input": misplaced}, ada))
    literal = (
        f'mutation {{ payInvoice(input: {{invoiceNumber: "{held.card()}", currency: "NGN"}})'
        " { __typename } }"
    )
    out.graphql("literal a card", await graphql(client, literal, headers=ada))
    out.graphql(
        "syntax error", await graphql(client, f"{{ viewer {{ id {held.card()} }} }}", headers=ada)
    )
    out.graphql("unknown field", await graphql(client, "{ viewr { id } }", headers=ada))
    out.graphql(
        "invalid cursor",
        await graphql(
            client,
            "query($a: String) { invoices(after: $a) { edges { cursor } } }",
            {"a": held.card()},
            ada,
        ),
    )
    out.graphql(
        "node a card",
        await graphql(
            client, "query($id: ID!) { node(id: $id) { id } }", {"id": held.card("-")}, ada
        ),
    )
    clone = {"invoiceNumber": 100123, "currency": "NGN", "cloneId": held.card()}
    out.graphql("cloneId", await graphql(client, GRAPHQL_PAY, {"input": clone}, ada))
    forbidden = (
        'mutation($n: String!) { createCustomer(input: {name: $n, email: "e@x.io"})'
        " { __typename } }"
    )
    out.graphql("customer calls admin", await graphql(client, forbidden, {"n": held.card()}, ada))
    for what, token in {
        "expired": cast.expired_token,
        "forged": cast.forged_token,
        "unsigned": cast.unsigned_token,
    }.items():
        out.graphql(what, await graphql(client, "{ viewer { id } }", headers=bearer(token)))

    admin_headers = bearer(cast.admin_token)
    revoke = "mutation($j: String!) { revokeSession(jti: $j) { __typename } }"
    out.graphql("revoke", await graphql(client, revoke, {"j": cast.to_revoke.jti}, admin_headers))
    out.graphql(
        "revoked", await graphql(client, "{ viewer { id } }", headers=bearer(cast.revoked_token))
    )
    out.rest(
        "401 revoked",
        await client.post(
            REST_PAY,
            json={"invoice": 100123, "currency": "NGN"},
            headers=bearer(cast.revoked_token),
        ),
    )
    # An admin's date beyond datetime's range: a failure nobody planned for, if still open.
    overflow = (
        'mutation($c: ID!) { createInvoice(input: {number: 9, customerId: $c, currency: "NGN",'
        ' total: "1", dueAt: "9999-12-31T23:59:59-01:00"}) { __typename } }'
    )
    out.graphql(
        "unexpected",
        await graphql(
            client,
            overflow,
            {"c": cast.ada},
            {**admin_headers, "X-Card": held.card(" ")},
            path=f"/graphql?pan={held.card()}",
        ),
    )
    # GET, with variables (and a misplaced token) in the query string.
    params = {
        "query": "query($id: ID!) { node(id: $id) { id } }",
        "variables": json.dumps({"id": held.card(" ")}),
        "access_token": cast.ada_token,
    }
    response = await client.get("/graphql", params=params, headers=ada)
    out.graphql("GET", response)


async def drive_websocket(server: LiveServer, cast: Cast, out: Outcomes) -> None:
    held = cast.held
    url = server.url.replace("http://", "ws://") + "/graphql"
    for what, token in {"websocket": cast.ada_token, "websocket forged": cast.forged_token}.items():
        async with connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            additional_headers=bearer(token),
        ) as socket:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            await socket.send(json.dumps(init))
            async with asyncio.timeout(10):
                assert json.loads(await socket.recv())["type"] == "connection_ack"
                subscribe = {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "query($id: ID!) { node(id: $id) { id } viewer { id } }",
                        "variables": {"id": held.card(" ")},
                    },
                }
                await socket.send(json.dumps(subscribe))
                answers = [json.loads(await socket.recv())]
                while answers[-1]["type"] not in {"complete", "error"}:
                    answers.append(json.loads(await socket.recv()))
        out.statuses[what] = len(answers)


def assert_every_kind_was_exercised(out: Outcomes) -> None:
    for what, status in out.statuses.items():
        if what[:3].isdigit():
            assert status == int(what[:3]), (what, status)
    codes = out.graphql_codes
    assert codes["viewer"] == codes["paid"] == codes["revoke"] == []
    assert codes["variable a card"] == codes["variable a token"] == ["BAD_USER_INPUT"]
    assert codes["literal a card"] == codes["syntax error"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes["unknown field"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes["invalid cursor"] == ["BAD_USER_INPUT"]
    assert codes["cloneId"] == codes["customer calls admin"] == ["FORBIDDEN"]
    for what in ("expired", "forged", "unsigned", "revoked"):
        assert codes[what] == ["UNAUTHENTICATED"], what
    assert codes["GET"] == []


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
async def test_no_secret_reaches_the_log_of_a_served_app(
    db: Database, database_url: str, tmp_path: Path, level: str
) -> None:
    # given a world, tokens of every kind, and the app served at `level`
    held = Secrets(jwt_secret=secrets.token_urlsafe(48))
    cast = await given_a_cast(db, held)
    out = Outcomes()
    async with live_server(
        database_url,
        log_path=tmp_path / "server.log",
        JWT_SECRET=held.jwt_secret,
        LOG_LEVEL=level,
        RATE_LIMIT=f"{RATE_LIMIT}/minute",
        TRUSTED_PROXIES="127.0.0.1",
        BLOCKED_IPS="203.0.113.0/24",
    ) as server:
        # when clients succeed and fail in every way, with card numbers everywhere
        async with server.client() as client:
            await drive_rest(client, cast, out)
            await drive_graphql(client, cast, out)
        await drive_websocket(server, cast, out)
    log = server.log()
    # then every kind of answer was given
    assert_every_kind_was_exercised(out)
    # and the log holds none of the secrets
    assert leaks(log, held) == [], server.log_path
    # but still tells what happened, with the secrets masked
    assert f'"POST {REST_PAY}?pan=' in log
    assert "****" in log
    if level == "DEBUG":
        assert "GraphQL error for the client" in log
    for request_id in out.unexpected_request_ids:
        assert request_id in log and "Traceback" in log
    report(
        f"log hygiene, {level}, {db.url.split(':')[0]}",
        f"{len(out.statuses)} kinds of request, {len(held.cards)} card numbers,"
        f" {len(held.tokens)} tokens, {len(log.splitlines())} log lines, no leak;"
        f" unexpected failures provoked: {len(out.unexpected_request_ids)}",
    )


UNREACHABLE = {
    "sqlite": "sqlite+aiosqlite:////nonexistent-invoicepay-dir/invoicepay.db",
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:1/invoicepay",
}


@pytest.mark.parametrize("backend", list(UNREACHABLE))
async def test_a_failing_database_logs_its_failure_but_no_secret(
    tmp_path: Path, backend: str
) -> None:
    # given the app served at DEBUG over a database it cannot reach, and a well-signed token
    held = Secrets(jwt_secret=secrets.token_urlsafe(48))
    token = held.token(
        jwt.encode(
            {
                "sub": "cus_" + "1" * 24,
                "jti": secrets.token_hex(16),
                "clone_id": DEMO_CLONE_ID,
                "scope": "payments",
                "iat": int(time.time()),
                "exp": int(time.time()) + 600,
            },
            held.jwt_secret,
            "HS256",
        )
    )
    async with (
        live_server(
            UNREACHABLE[backend],
            log_path=tmp_path / "server.log",
            JWT_SECRET=held.jwt_secret,
            LOG_LEVEL="DEBUG",
        ) as server,
        server.client() as client,
    ):
        # when the token is used, over REST and GraphQL, with card numbers everywhere
        headers = {**bearer(token), "X-Card": held.card(" ")}
        body = {"invoice": 100123, "currency": "NGN", "memo": held.card("-")}
        rest = await client.post(f"{REST_PAY}?pan={held.card()}", json=body, headers=headers)
        query = {"query": "query($i: ID!) { node(id: $i) { id } }", "variables": {"i": held.card()}}
        gql = await client.post(f"/graphql?pan={held.card()}", json=query, headers=headers)
    log = server.log()
    # then both fail as the server's fault, and the log names each failure by its id
    assert rest.status_code >= 500 and gql.status_code >= 500, (rest.text, gql.text)
    for response in (rest, gql):
        assert response.headers["x-request-id"] in log
    # but holds no secret
    assert leaks(log, held) == [], server.log_path


async def test_a_cursor_beyond_any_key_is_bad_input_not_a_failure_that_logs_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # given Ada's wallet and invoices, and a card number of 19 digits, beyond any BIGINT key
    held = Secrets(jwt_secret=SECRET)
    body = "9" * 18
    card = body + luhn_check_digit(body)
    held.cards.append(card)
    world = await make_world(db)
    caplog.set_level(logging.DEBUG)
    async with client_for(db) as client:
        # when she pages invoices and her wallet's history after it
        answers = [
            await gql(
                client,
                "query($a: String) { invoices(after: $a) { edges { cursor } } }",
                {"a": encode_cursor("inv", int(card))},
                world.ada_token,
            ),
            await gql(
                client,
                'query($a: String) { wallet(currency: "NGN") {'
                " transactions(after: $a) { edges { cursor } } } }",
                {"a": encode_cursor("txe", int(card))},
                world.ada_token,
            ),
        ]
    # then each is refused as her mistake, not a failure of ours whose traceback (with the
    # database driver's message) would carry the number into the log
    for answer in answers:
        assert error_codes(answer) == ["BAD_USER_INPUT"], answer
        assert answer["errors"][0]["message"] == "Invalid cursor"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert leaks(caplog.text, held) == []


# --- the CLI ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str
    logged: str  # every record logged while it ran, at any level


class Cli:
    """`invoicepay` in-process (app.cli.main) with an environment of our own, its output
    and every record it logs captured."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        self.monkeypatch, self.capsys, self.caplog = monkeypatch, capsys, caplog
        caplog.set_level(logging.DEBUG)

    def env(self, database_url: str, jwt_secret: str) -> None:
        # Every variable set, so a developer's .env cannot stand in for one.
        for name, value in server_env(database_url, JWT_SECRET=jwt_secret).items():
            if name.startswith(("JWT_", "RATE_LIMIT", "DATABASE_URL", "ENVIRONMENT")):
                self.monkeypatch.setenv(name, value)
        for name in ("JWT_PUBLIC_KEY", "JWT_JWKS_URL", "JWT_AUDIENCE", "JWT_ISSUER"):
            self.monkeypatch.setenv(name, "")
        self.monkeypatch.setenv("LOG_LEVEL", "DEBUG")

    def __call__(self, *args: str) -> Ran:
        self.caplog.clear()
        code = cli.main(list(args))
        out, err = self.capsys.readouterr()
        return Ran(code, out, err, self.caplog.text)


@pytest.fixture
def invoicepay(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Cli:
    return Cli(monkeypatch, capsys, caplog)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_commands_print_tokens_only_where_asked(database_url: str, invoicepay: Cli) -> None:
    # given the demo seeded by `invoicepay seed --demo`, with LOG_LEVEL=DEBUG
    held = Secrets(jwt_secret=secrets.token_urlsafe(48))
    invoicepay.env(database_url, held.jwt_secret)
    seed = invoicepay("seed", "--demo")
    assert seed.code == 0, seed.stderr
    seeded = re.findall(r"[A-Z]+_TOKEN=(\S+)", seed.stdout)
    assert len(seeded) == 3
    held.tokens += seeded
    ada = re.search(r"Ada Obi\s+\S+\s+(cus_[0-9a-f]{24})", seed.stdout)
    assert ada is not None
    # when tokens are issued, a session registered, and a weak secret refused
    issued = [
        invoicepay("token", "--clone", DEMO_CLONE_ID, "--customer", ada.group(1)),
        invoicepay("token", "--clone", DEMO_CLONE_ID, "--admin", "--ttl", "60"),
    ]
    held.tokens += [ran.stdout.strip() for ran in issued]
    register = invoicepay(
        *("session", "register", "--clone", DEMO_CLONE_ID, "--customer", ada.group(1)),
        *("--jti", "login-42"),
    )
    unknown = invoicepay("token", "--clone", DEMO_CLONE_ID, "--customer", "cus_" + "0" * 24)
    weak = Secrets(jwt_secret="too-short-" + secrets.token_hex(4))
    invoicepay.monkeypatch.setenv("JWT_SECRET", weak.jwt_secret)
    refused = invoicepay("token", "--clone", DEMO_CLONE_ID, "--admin")
    # then each token command printed its token alone on stdout, and it is a real one
    for ran in issued:
        assert ran.code == 0, ran.stderr
        token = ran.stdout.removesuffix("\n")
        assert "\n" not in token
        assert jwt.decode(token, held.jwt_secret, algorithms=["HS256"])["clone_id"] == DEMO_CLONE_ID
    # and the seed printed its tokens (its purpose) but not the secret
    assert leaks(seed.stdout, Secrets(jwt_secret=held.jwt_secret)) == []
    # and nothing else any command wrote or logged holds a token or the secret
    assert register.code == 0 and json.loads(register.stdout)["jti"] == "login-42"
    assert unknown.code == 1 and "Customer not found" in unknown.stderr
    assert refused.code == 1 and "JWT_SECRET" in refused.stderr
    elsewhere = {
        "seed": seed.stderr + seed.logged,
        "token": "".join(ran.stderr + ran.logged for ran in issued),
        "session register": register.stdout + register.stderr + register.logged,
        "failed token": unknown.stdout + unknown.stderr + unknown.logged,
    }
    for what, text in elsewhere.items():
        assert leaks(text, held) == [], (what, text)
    assert leaks(refused.stdout + refused.stderr + refused.logged, weak) == []


def test_a_database_password_never_shows_in_cli_output(invoicepay: Cli) -> None:
    # given a DATABASE_URL with a password, to a server that is not there
    password = secrets.token_urlsafe(24)
    invoicepay.env(
        f"postgresql+asyncpg://app:{password}@127.0.0.1:1/invoicepay", secrets.token_urlsafe(48)
    )
    # when commands that need the database run
    results = [invoicepay("migrate"), invoicepay("token", "--clone", DEMO_CLONE_ID, "--admin")]
    # then they fail with a database error that does not show the password
    for ran in results:
        assert ran.code == 1, ran.stderr
        assert "database error" in ran.stderr
        assert password not in ran.stdout + ran.stderr + ran.logged
