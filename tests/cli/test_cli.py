"""`invoicepay` in-process: `main([...])` on each backend, output read through capsys.

`main` runs its work with asyncio.run, so these tests are plain sync functions.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
import uvicorn

from app.cli import commands as cli
from app.db.engine import Database
from app.db.migrate import head_revision
from app.ledger.verify import CHECKS
from app.seed.demo import DEMO_CLONE_ID
from tests.support import RSA_KEY, SEED_REQUEST, client_for, public_pem, rest_pay
from tests.support.cli import COUNTED_TABLES, SECRET, FakeServer, query, set_cli_env
from tests.support.terminal import plain


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_cli_env(monkeypatch)


@pytest.fixture
def url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`DATABASE_URL` of a clean, migrated database (each backend)."""
    set_cli_env(monkeypatch, database_url)
    return database_url


def counts(database_url: str) -> dict[str, int]:
    return {
        table: query(database_url, f"SELECT COUNT(*) FROM {table}")[0][0]  # noqa: S608
        for table in COUNTED_TABLES
    }


def ada_id(database_url: str) -> str:
    rows = query(database_url, "SELECT id FROM customers WHERE email = 'ada@demo.invoicepay.test'")
    return str(rows[0][0])


def test_given_a_migrated_database_when_migrating_again_then_nothing_fails(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["migrate"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert all(line.endswith(f"is at revision {head_revision()}") for line in out)


def test_given_a_tenant_when_created_again_then_it_fails_with_a_message(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tenant", "create", "64f0000000000000000000c1", "--name", "Acme"]) == 0
    assert "64f0000000000000000000c1" in capsys.readouterr().out

    assert cli.main(["tenant", "create", "64f0000000000000000000c1", "--name", "Acme"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ALREADY_EXISTS" in captured.err
    assert "Traceback" not in captured.err
    assert query(url, "SELECT name FROM tenants") == [("Acme",)]


def test_given_a_malformed_clone_id_when_creating_a_tenant_then_it_is_a_usage_error(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tenant", "create", "not-a-clone", "--name", "Acme"]) == 2

    assert "is not a clone id" in capsys.readouterr().err


def test_when_seeding_the_demo_twice_then_the_data_is_created_once(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    first = counts(url)
    assert cli.main(["seed", "--demo"]) == 0
    second = counts(url)

    assert {table: n for table, n in first.items() if table != "sessions"} == {
        "tenants": 1,
        "customers": 2,
        "wallets": 3,
        "invoices": 4,
        "ledger_entries": 6,
    }
    assert second == {**first, "sessions": 6}
    out = capsys.readouterr().out
    assert out.count("ADA_TOKEN=ey") == 2
    assert out.count("ADMIN_TOKEN=ey") == 2
    assert "curl -s http://127.0.0.1:8000/graphql" in out
    assert "payInvoice(input: {invoiceNumber: 100123" in out
    assert "curl -s http://127.0.0.1:8000/api/v1/billing/invoice/pay" in out
    assert "already seeded" in out


def test_the_printed_rest_example_is_the_seed_documents_and_pays(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the demo, seeded through the CLI
    assert cli.main(["seed", "--demo"]) == 0
    out = capsys.readouterr().out
    token = out.split("ADA_TOKEN=")[1].split()[0]
    body = json.loads(out.rsplit("-d '", 1)[1].split("'")[0])
    # then the REST body printed is the seed document's example request
    assert body == json.loads(SEED_REQUEST)

    # and sending it as printed pays 5000 of 100123
    async def send() -> httpx.Response:
        db = Database(url)
        try:
            async with client_for(db, jwt_secret=SECRET) as client:
                return await rest_pay(client, body, token)
        finally:
            await db.dispose()

    response = asyncio.run(send())
    assert response.status_code == 200, response.text
    assert response.json()["walletBalance"] == 45000
    assert response.json()["status"] == "partially_paid"


def test_when_seeding_then_the_demo_wallets_and_invoices_are_as_documented(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0

    wallets = query(
        url,
        "SELECT c.email, w.currency, w.balance FROM wallets w"
        " JOIN customers c ON c.id = w.customer_id ORDER BY c.email, w.currency",
    )
    assert [tuple(w) for w in wallets] == [
        ("ada@demo.invoicepay.test", "NGN", 5_000_000),
        ("ada@demo.invoicepay.test", "USD", 50_000),
        ("bola@demo.invoicepay.test", "NGN", 100_000),
    ]
    invoices = query(
        url,
        "SELECT i.number, c.email, i.currency, i.total, i.status, i.discount_percent"
        " FROM invoices i JOIN customers c ON c.id = i.customer_id ORDER BY i.number",
    )
    assert [tuple(i) for i in invoices] == [
        (100123, "ada@demo.invoicepay.test", "NGN", 1_500_000, "UNPAID", None),
        (100124, "ada@demo.invoicepay.test", "NGN", 500_000, "UNPAID", "5"),
        (100125, "ada@demo.invoicepay.test", "USD", 20_000, "UNPAID", None),
        (100200, "bola@demo.invoicepay.test", "NGN", 250_000, "UNPAID", None),
    ]
    out = capsys.readouterr().out
    assert f"Demo tenant {DEMO_CLONE_ID} (Demo Clone)" in out
    assert ada_id(url) in out


def test_when_issuing_a_customer_token_then_stdout_is_only_a_jwt_of_a_known_session(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    customer = ada_id(url)
    capsys.readouterr()

    assert cli.main(["token", "--clone", DEMO_CLONE_ID, "--customer", customer, "--ttl", "60"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    claims = jwt.decode(lines[0], SECRET, algorithms=["HS256"])
    assert claims["sub"] == customer
    assert claims["clone_id"] == DEMO_CLONE_ID
    assert claims["scope"] == "payments"
    assert claims["exp"] - claims["iat"] == 60
    session = query(url, "SELECT subject, scope FROM sessions WHERE jti = :jti", jti=claims["jti"])
    assert [tuple(s) for s in session] == [(customer, "payments")]


def test_when_issuing_an_admin_token_then_it_carries_the_admin_scope(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tenant", "create", DEMO_CLONE_ID, "--name", "Demo Clone"]) == 0
    capsys.readouterr()

    assert cli.main(["token", "--clone", DEMO_CLONE_ID, "--admin"]) == 0

    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["scope"] == "admin"
    assert claims["exp"] - claims["iat"] == cli.DEFAULT_TTL_SECONDS
    assert query(url, "SELECT scope FROM sessions WHERE jti = :j", j=claims["jti"]) == [("admin",)]


def test_given_an_unknown_customer_when_issuing_a_token_then_it_fails_on_stderr_only(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tenant", "create", DEMO_CLONE_ID, "--name", "Demo Clone"]) == 0
    capsys.readouterr()

    assert cli.main(["token", "--clone", DEMO_CLONE_ID, "--customer", "cus_nobody"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "invoicepay: error: Customer not found (customer_id=cus_nobody)"
    )
    assert query(url, "SELECT COUNT(*) FROM sessions") == [(0,)]


def test_given_no_jwt_secret_when_issuing_a_token_then_no_session_is_created(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["tenant", "create", DEMO_CLONE_ID, "--name", "Demo Clone"]) == 0
    monkeypatch.setenv("JWT_SECRET", "")
    capsys.readouterr()

    assert cli.main(["token", "--clone", DEMO_CLONE_ID, "--admin"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "JWT_SECRET" in captured.err
    assert query(url, "SELECT COUNT(*) FROM sessions") == [(0,)]


def test_given_a_seeded_database_when_verifying_the_ledger_then_it_passes(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    capsys.readouterr()

    assert cli.main(["ledger", "verify"]) == 0

    captured = capsys.readouterr()
    assert captured.out.startswith(f"ledger OK: {len(CHECKS)} checks passed")
    assert captured.err == ""  # no progress bar when stderr is not a terminal


def test_given_a_terminal_when_verifying_the_ledger_then_progress_goes_to_stderr(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    assert cli.main(["ledger", "verify"]) == 0

    captured = capsys.readouterr()
    assert re.search(
        rf"verifying ledger ━+ 100% +{len(CHECKS)}/{len(CHECKS)} checks .*\n$", plain(captured.err)
    )
    assert captured.out.startswith("ledger OK")


@pytest.mark.usefixtures("cli_env")
def test_given_an_unmigrated_database_when_verifying_then_it_fails_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")

    assert cli.main(["ledger", "verify"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("invoicepay: database error: no such table")


def test_given_a_wallet_balance_changed_behind_the_ledger_when_verifying_then_it_fails(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    wallet = query(url, "SELECT id FROM wallets WHERE currency = 'USD'")[0][0]
    query(url, "UPDATE wallets SET balance = balance + 1 WHERE id = :id", id=wallet)
    capsys.readouterr()

    assert cli.main(["ledger", "verify"]) == 1

    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["CHECK", "SUBJECT", "DETAIL"]
    assert out[1].split()[:2] == ["wallet_balance_matches_ledger", wallet]
    assert out[-1] == "ledger BROKEN: 1 violation(s)"


def test_given_a_short_jwt_secret_when_serving_then_it_refuses_to_start(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FakeServer()
    monkeypatch.setattr(uvicorn, "run", server)
    monkeypatch.setenv("JWT_SECRET", "too-short")

    assert cli.main(["serve"]) == 1

    assert server.calls == []
    assert "JWT_SECRET must be at least 32 bytes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("BLOCKED_IPS", "10.0.0.0/33", "BLOCKED_IPS: '10.0.0.0/33' is not an IP address or CIDR"),
        ("TRUSTED_PROXIES", "proxy.local", "TRUSTED_PROXIES: 'proxy.local' is not an IP"),
        ("RATE_LIMIT", "lots", "RATE_LIMIT: 'lots' is not a rate such as 60/minute"),
        ("RATE_LIMIT_STORAGE_URL", "nosuch://x", "RATE_LIMIT_STORAGE_URL:"),
    ],
)
def test_given_an_unsafe_edge_setting_when_serving_then_it_refuses_to_start(
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    complaint: str,
) -> None:
    server = FakeServer()
    monkeypatch.setattr(uvicorn, "run", server)
    monkeypatch.setenv(variable, value)

    assert cli.main(["serve"]) == 1

    assert server.calls == []
    assert complaint in capsys.readouterr().err


def test_given_a_strong_secret_when_serving_then_uvicorn_runs_the_app_factory(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeServer()
    monkeypatch.setattr(uvicorn, "run", server)

    assert cli.main(["serve", "--port", "8123", "--workers", "2"]) == 0

    [(app, options)] = server.calls
    assert app == "app.web:serve_app"
    assert options["factory"] is True
    assert (options["host"], options["port"], options["workers"]) == ("127.0.0.1", 8123, 2)


def test_a_session_registered_for_an_identity_providers_token_lets_that_token_pay(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the demo, and a server that verifies tokens with the provider's public key
    assert cli.main(["seed", "--demo"]) == 0
    ada = query(url, "SELECT id FROM customers WHERE email = 'ada@demo.invoicepay.test'")[0][0]
    capsys.readouterr()
    # when the operator registers the jti the provider will put in Ada's token
    assert (
        cli.main(
            ["session", "register", "--clone", DEMO_CLONE_ID, "--customer", ada, "--jti", "idp-42"]
        )
        == 0
    )
    claims = json.loads(capsys.readouterr().out)
    # then the claims to sign are printed
    assert {k: claims[k] for k in ("sub", "clone_id", "scope", "jti")} == {
        "sub": ada,
        "clone_id": DEMO_CLONE_ID,
        "scope": "payments",
        "jti": "idp-42",
    }
    # and the provider's RS256 token with those claims pays over REST
    token = jwt.encode({**claims, "iat": int(time.time())}, RSA_KEY, algorithm="RS256")

    async def send() -> httpx.Response:
        db = Database(url)
        try:
            async with client_for(
                db, jwt_secret=None, jwt_public_key=public_pem(RSA_KEY)
            ) as client:
                return await rest_pay(client, {"invoice": 100123, "currency": "NGN"}, token)
        finally:
            await db.dispose()

    response = asyncio.run(send())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--jti", "has space"], "jti"),
        (["--jti", "x" * 65], "jti"),
        (["--jti", "taken", "--again"], "jti"),
    ],
)
def test_a_session_cannot_be_registered_with_a_bad_or_taken_jti(
    url: str, capsys: pytest.CaptureFixture[str], extra: list[str], complaint: str
) -> None:
    assert cli.main(["tenant", "create", DEMO_CLONE_ID, "--name", "Demo"]) == 0
    base = ["session", "register", "--clone", DEMO_CLONE_ID, "--admin"]
    if "--again" in extra:
        extra = [e for e in extra if e != "--again"]
        assert cli.main([*base, *extra]) == 0
    capsys.readouterr()
    before = query(url, "SELECT count(*) FROM sessions")[0][0]

    assert cli.main([*base, *extra]) == 1

    assert complaint in capsys.readouterr().err
    assert query(url, "SELECT count(*) FROM sessions")[0][0] == before


def test_subject_is_only_for_admin_sessions(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["session", "register", "--clone", DEMO_CLONE_ID, "--customer", "cus_x"]
    assert cli.main([*args, "--jti", "j", "--subject", "someone"]) == 2
    assert "--subject is for --admin" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("environment", "flags", "access_log"),
    [
        ("development", [], True),
        ("production", [], False),
        ("production", ["--access-log"], True),
        ("development", ["--no-access-log"], False),
    ],
)
def test_given_an_environment_when_serving_then_the_access_log_follows_it_or_the_flag(
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
    flags: list[str],
    access_log: bool,
) -> None:
    server = FakeServer()
    monkeypatch.setattr(uvicorn, "run", server)
    monkeypatch.setenv("ENVIRONMENT", environment)

    assert cli.main(["serve", *flags]) == 0

    [(_app, options)] = server.calls
    assert options["access_log"] is access_log
    assert (options["loop"], options["http"]) == ("uvloop", "httptools")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("environment", "mode"),
    [("", "production"), ("production", "production"), ("development", "development")],
)
def test_serve_says_at_start_which_mode_it_runs_in_and_production_is_the_default(
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: str,
    mode: str,
) -> None:
    monkeypatch.setattr(uvicorn, "run", FakeServer())
    monkeypatch.setenv("ENVIRONMENT", environment)

    assert cli.main(["serve"]) == 0

    [line] = [line for line in capsys.readouterr().err.splitlines() if "serving in" in line]
    assert f"serving in {mode} mode" in line


def test_a_customer_can_be_named_by_email_when_issuing_a_token(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", "--demo"]) == 0
    capsys.readouterr()

    args = ["token", "--clone", DEMO_CLONE_ID, "--customer", "ADA@demo.invoicepay.test"]
    assert cli.main(args) == 0

    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == ada_id(url)
