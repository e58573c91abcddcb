"""The app over a test database and the calls tests make to it: GraphQL and REST."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.config import Settings
from app.db.engine import Database
from app.http.ratelimit import RateLimiter
from app.web import create_app
from tests.support.documents import PAY
from tests.support.keys import SECRET

REST_PAY = "/api/v1/billing/invoice/pay"

# The seed document's example request, byte for byte.
SEED_REQUEST = b"""{
  "cloneId": "64f000000000000000000002",
  "invoice": 100123,
  "currency": "NGN",
  "partPaymentFromWalletBalance": {
    "currency": "NGN",
    "exchangeRate": 1,
    "chargeTotalBefore": 15000,
    "chargeTotalCurrent": 5000
  }
}"""


def test_settings(database_url: str, **overrides: Any) -> Settings:
    # Tests of other things must never meet the rate limit; its own tests set one.
    # Development (introspection, GraphiQL) unless a test asks for production.
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": SECRET,
        "rate_limit": "100000/minute",
        "environment": "development",
    }
    values.update(overrides)
    values.setdefault("graphiql", values["environment"] != "production")
    return Settings(**values)


@asynccontextmanager
async def client_for(
    db: Database, *, peer: str = "127.0.0.1", limiter: RateLimiter | None = None, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app on `db`; `peer` is the TCP address the app sees the client at."""
    app = create_app(test_settings(db.url, **overrides), db=db, limiter=limiter)
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # ASCII-escaped JSON, as many clients send it: it can carry any string, even "\ud800".
    sent = json.dumps({"query": query, "variables": variables or {}})
    response = await client.post("/graphql", content=sent, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def gql_on(
    db: Database,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """`gql` once through a fresh client of the app on `db`."""
    async with client_for(db) as client:
        return await gql(client, query, variables, token)


async def rest_pay(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    token: str | None = None,
    **headers: str,
) -> httpx.Response:
    """POST `body` to the REST route; keyword headers use `_` for `-` (Idempotency_Key)."""
    sent = {name.replace("_", "-"): value for name, value in headers.items()}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return await client.post(REST_PAY, json=body, headers=sent)


async def pay_through_graphql(
    client: httpx.AsyncClient, document: str, token: str, request: dict[str, Any]
) -> dict[str, Any]:
    """Run a payInvoice `document` with `request` as `$input`: the union member answered."""
    result = await gql(client, document, {"input": request}, token)
    assert "errors" not in result, result
    answer: dict[str, Any] = result["data"]["payInvoice"]
    return answer


async def pay_with(
    client: httpx.AsyncClient, token: str, number: int, **fields: Any
) -> dict[str, Any]:
    """Pay invoice `number` with the shared PAY document; `fields` are the rest of the
    input by their GraphQL names (currency NGN unless given): the union member answered."""
    request = {"invoiceNumber": number, "currency": "NGN", **fields}
    return await pay_through_graphql(client, PAY, token, request)


def error_codes(result: dict[str, Any]) -> list[str]:
    """The `extensions.code` of each top-level error (empty when there is none)."""
    return [error.get("extensions", {}).get("code", "") for error in result.get("errors") or []]
