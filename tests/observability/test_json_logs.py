"""`LOG_FORMAT=json`: every line a JSON object, one summary line per request with its
operation, outcome, tenant and customer, and no secret in any of them."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from app.api.rest.openapi import OPENAPI_PATH
from app.config import ConfigError, Settings
from app.db.engine import Database
from app.http.request_context import REQUEST_ID
from app.observability.logs import JsonFormatter
from app.observability.request_info import REQUEST_INFO, RequestInfo
from tests.support import REST_PAY, gql, invoice, make_world, rest_pay
from tests.support.leaks import (
    RATE_LIMIT,
    Outcomes,
    Secrets,
    assert_every_kind_was_exercised,
    drive_graphql,
    drive_rest,
    given_a_cast,
    leaks,
)
from tests.support.live import live_server

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename }
}
"""


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every line of `log` as the JSON object it must be."""
    entries = []
    for line in log.splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def test_log_format_is_json_in_production_text_in_development_and_nothing_else() -> None:
    assert Settings.from_env({"ENVIRONMENT": "production"}).log_format == "json"
    assert Settings.from_env({"ENVIRONMENT": "development"}).log_format == "text"
    assert Settings.from_env({}).log_format == "json"  # production, the default
    assert Settings.from_env({"LOG_FORMAT": "JSON"}).log_format == "json"
    assert Settings.from_env({"ENVIRONMENT": "production", "LOG_FORMAT": "text"}).log_format == (
        "text"
    )
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"})


def test_a_record_becomes_one_json_object_with_its_request_and_secrets_masked() -> None:
    # given a request of Ada's that paid, and a record that quotes a header, a card number
    # and a token, with a traceback and an extra field
    info = RequestInfo("rest", "payInvoice")
    info.tenant, info.customer, info.outcome = "64f000000000000000000002", "cus_1", "WrongAmount"
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0." + secrets.token_urlsafe(32)
    try:
        raise ValueError(f'bad "card" 4111 1111 1111 1111 and {token}')
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "invoicepay",
        logging.ERROR,
        __file__,
        1,
        'header {"Authorization": "Bearer %s"} memo "%s"\nnext line',
        (token, "4111-1111-1111-1111"),
        exc_info,
    )
    record.memo = {"note": "4111111111111111"}
    info_reset, id_reset = REQUEST_INFO.set(info), REQUEST_ID.set("a" * 32)
    try:
        line = JsonFormatter().format(record)
    finally:
        REQUEST_INFO.reset(info_reset)
        REQUEST_ID.reset(id_reset)
    # then it is one line of JSON with every field, and no secret survived
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "invoicepay"
    assert entry["timestamp"].endswith("Z") and entry["timestamp"][10] == "T"
    assert (entry["request_id"], entry["tenant"], entry["customer"]) == (
        "a" * 32,
        "64f000000000000000000002",
        "cus_1",
    )
    assert (entry["operation"], entry["outcome"]) == ("payInvoice", "WrongAmount")
    assert entry["message"].startswith('header {"Authorization": "[REDACTED]')
    assert "****-****-****-1111" in entry["message"] and entry["message"].endswith("next line")
    assert "ValueError" in entry["exception"] and "**** **** **** 1111" in entry["exception"]
    assert "************1111" in entry["memo"]
    held = Secrets(jwt_secret=secrets.token_urlsafe(48), tokens=[token])
    assert leaks(line, held) == []


@pytest.mark.slow
async def test_a_served_app_logs_one_json_summary_line_per_request(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    # given the app served with JSON logs, and Ada's invoice
    world = await make_world(db)
    await invoice(db, 800, world.ada, "100000")
    async with (
        live_server(database_url, log_path=tmp_path / "server.log", LOG_FORMAT="json") as server,
        server.client() as client,
    ):
        # when she pays over REST, is refused for want of funds over GraphQL, and the
        # orchestrator probes
        body = {
            "invoice": 800,
            "currency": "NGN",
            "partPaymentFromWalletBalance": {"chargeTotalCurrent": 10},
        }
        paid = await rest_pay(client, body, world.ada_token)
        short = await client.post(
            "/graphql",
            json={
                "query": PAY,
                "variables": {
                    "input": {"invoiceNumber": 800, "currency": "NGN", "amount": "90000"}
                },
            },
            headers={"Authorization": f"Bearer {world.ada_token}"},
        )
        probes = [await client.get("/healthz"), await client.get("/readyz")]
        await gql(client, "{ viewer { id } }", None, world.ada_token)
    entries = json_lines(server.log())
    assert paid.status_code == 200 and short.json()["data"]["payInvoice"]["__typename"] == (
        "InsufficientFunds"
    )
    assert [probe.status_code for probe in probes] == [200, 200]
    # then every line was JSON, uvicorn's own included
    assert any(e["message"] == "Application startup complete." for e in entries)
    assert any(e["message"] == "database pool closed" for e in entries)
    assert not [e for e in entries if e["logger"].startswith("alembic")]  # (readiness reads)
    # every request's summary line, but the live server's own wait for the app to answer
    access = [e for e in entries if e["logger"] == "uvicorn.access" and e["path"] != OPENAPI_PATH]
    # and each request has one summary line, except the probes that succeeded
    assert [(e["method"], e["path"], e["status"]) for e in access] == [
        ("POST", REST_PAY, 200),
        ("POST", "/graphql", 200),
        ("POST", "/graphql", 200),
    ]
    rest_line, graphql_line, viewer_line = access
    assert rest_line["request_id"] == paid.headers["x-request-id"]
    assert graphql_line["request_id"] == short.headers["x-request-id"]
    for line in access:
        assert line["tenant"] == "64f000000000000000000002"
        assert line["customer"] == world.ada
        assert line["level"] == "INFO" and line["duration_ms"] >= 0
    assert (rest_line["operation"], rest_line["outcome"]) == ("payInvoice", "PayInvoiceSuccess")
    assert (graphql_line["operation"], graphql_line["outcome"]) == (
        "payInvoice",
        "InsufficientFunds",
    )
    assert viewer_line["operation"] == "viewer" and "outcome" not in viewer_line


@pytest.mark.slow
@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
async def test_no_secret_reaches_a_json_log(
    db: Database, database_url: str, tmp_path: Path, level: str
) -> None:
    # given the app served with JSON logs, and tokens of every kind (test_log_hygiene)
    held = Secrets(jwt_secret=secrets.token_urlsafe(48))
    cast = await given_a_cast(db, held)
    out = Outcomes()
    async with (
        live_server(
            database_url,
            log_path=tmp_path / "server.log",
            JWT_SECRET=held.jwt_secret,
            LOG_LEVEL=level,
            LOG_FORMAT="json",
            RATE_LIMIT=f"{RATE_LIMIT}/minute",
            TRUSTED_PROXIES="127.0.0.1",
            BLOCKED_IPS="203.0.113.0/24",
        ) as server,
        server.client() as client,
    ):
        # when clients succeed and fail in every way, with card numbers everywhere
        await drive_rest(client, cast, out)
        await drive_graphql(client, cast, out)
    log = server.log()
    assert_every_kind_was_exercised(out)
    # then every line is JSON, and none holds a secret
    entries = json_lines(log)
    assert leaks(log, held) == [], server.log_path
    # but the log still tells what happened, with the secrets masked
    paths = [e["path"] for e in entries if e["logger"] == "uvicorn.access"]
    assert any(path.startswith(f"{REST_PAY}?pan=") and "****" in path for path in paths)
    for request_id in out.unexpected_request_ids:
        failures = [e for e in entries if e.get("request_id") == request_id and "exception" in e]
        assert failures and "Traceback" in failures[0]["exception"]
