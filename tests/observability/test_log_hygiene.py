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

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from app.api.graphql.types import encode_cursor
from app.cli import commands as cli
from app.db.engine import Database
from app.kit.redact import redact
from app.seed.demo import DEMO_CLONE_ID
from tests.support import (
    REST_PAY,
    SECRET,
    client_for,
    error_codes,
    gql,
    make_world,
)
from tests.support.figures import report
from tests.support.leaks import (
    RATE_LIMIT,
    Outcomes,
    Secrets,
    assert_every_kind_was_exercised,
    bearer,
    drive_graphql,
    drive_rest,
    drive_websocket,
    given_a_cast,
    leaks,
    luhn_check_digit,
)
from tests.support.live import live_server, server_env

pytestmark = pytest.mark.slow  # a whole-stack test: `pytest -m 'not slow'` skips it


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
