"""The leak scan of tests/observability (test_log_hygiene, test_json_logs): secrets and
card numbers held by the test, a cast of tokens valid and forged, and the drives that send
every kind of request with them to a served app."""

import asyncio
import base64
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import jwt
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from app.auth.tokens import issue_token
from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuthSession
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    REST_PAY,
    invoice,
)
from tests.support.live import LiveServer

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
