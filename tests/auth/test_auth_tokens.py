"""Bearer tokens: every way a token can be wrong is the same top-level UNAUTHENTICATED
error; a valid token bound to a live session works; a weak signing key refuses to start."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.billing import admin
from app.config import ConfigError, Settings
from app.db.engine import Database
from app.db.models import AuthSession, utcnow
from app.web import create_app
from tests.support import (
    DEMO_CLONE,
    OTHER_CLONE,
    SECRET,
    World,
    client_for,
    error_codes,
    gql,
    invoice,
    make_world,
    snapshot_all,
)

VIEWER = "query { viewer { id } }"
PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { __typename }
}
"""
OTHER_SECRET = "another-secret-" + "y" * 40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in claims.items() if key != name}


def unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token: header and payload, no signature."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def escalated(claims: dict[str, Any]) -> str:
    """A valid token whose payload was swapped for one with the admin scope, unsigned again."""
    header, _payload, signature = sign(claims).split(".")
    forged = b64(json.dumps({**claims, "scope": "admin"}).encode())
    return f"{header}.{forged}.{signature}"


def one_char_changed(claims: dict[str, Any]) -> str:
    header, payload, signature = sign(claims).split(".")
    middle = len(payload) // 2
    changed = "A" if payload[middle] != "A" else "B"
    return f"{header}.{payload[:middle]}{changed}{payload[middle + 1 :]}.{signature}"


def claims_for(session: AuthSession) -> dict[str, Any]:
    """The claims `issue_token` would sign for `session`."""
    return {
        "sub": session.subject,
        "jti": session.jti,
        "clone_id": session.tenant_id,
        "scope": session.scope,
        "iat": int(session.created_at.timestamp()),
        "exp": int(session.expires_at.timestamp()),
    }


Header = Callable[[dict[str, Any], World], str | None]

BAD_HEADERS: dict[str, Header] = {
    "no header": lambda c, w: None,
    "empty header": lambda c, w: "",
    "wrong scheme with a valid token": lambda c, w: f"Basic {sign(c)}",
    "basic credentials": lambda c, w: "Basic " + b64(b"ada:password"),
    "token scheme": lambda c, w: f"Token {sign(c)}",
    "bearer without a token": lambda c, w: "Bearer ",
    "token without a scheme": lambda c, w: sign(c),
    "garbage token": lambda c, w: "Bearer not-a-jwt",
    "three garbage parts": lambda c, w: "Bearer a.b.c",
    "header that is no JSON object": lambda c, w: f"Bearer {b64(b'[1]')}.{b64(b'{}')}.x",
    "alg none": lambda c, w: f"Bearer {unsigned(c)}",
    "signed with another secret": lambda c, w: f"Bearer {sign(c, OTHER_SECRET)}",
    "signed with an unpinned algorithm": lambda c, w: f"Bearer {sign(c, algorithm='HS384')}",
    "expired": lambda c, w: f"Bearer {sign({**c, 'exp': int(time.time()) - 60})}",
    "not yet valid": lambda c, w: f"Bearer {sign({**c, 'nbf': int(time.time()) + 600})}",
    "issued in the future": lambda c, w: f"Bearer {sign({**c, 'iat': int(time.time()) + 600})}",
    "missing sub": lambda c, w: f"Bearer {sign(without(c, 'sub'))}",
    "missing jti": lambda c, w: f"Bearer {sign(without(c, 'jti'))}",
    "missing exp": lambda c, w: f"Bearer {sign(without(c, 'exp'))}",
    "missing iat": lambda c, w: f"Bearer {sign(without(c, 'iat'))}",
    "missing clone_id": lambda c, w: f"Bearer {sign(without(c, 'clone_id'))}",
    "missing scope": lambda c, w: f"Bearer {sign(without(c, 'scope'))}",
    "sub not a string": lambda c, w: f"Bearer {sign({**c, 'sub': 12})}",
    "jti not a string": lambda c, w: f"Bearer {sign({**c, 'jti': 12})}",
    "unknown jti": lambda c, w: f"Bearer {sign({**c, 'jti': 'f' * 32})}",
    "overlong jti": lambda c, w: f"Bearer {sign({**c, 'jti': 'f' * 10_000})}",
    "jti with a NUL character": lambda c, w: f"Bearer {sign({**c, 'jti': c['jti'] + chr(0)})}",
    "sub of another customer": lambda c, w: f"Bearer {sign({**c, 'sub': w.bola})}",
    "clone_id of another tenant": lambda c, w: f"Bearer {sign({**c, 'clone_id': OTHER_CLONE})}",
    "payload tampered to admin": lambda c, w: f"Bearer {escalated(c)}",
    "one payload character changed": lambda c, w: f"Bearer {one_char_changed(c)}",
}


async def given_ada_session(db: Database) -> tuple[World, dict[str, Any]]:
    """The world, and the claims of a fresh, live session of Ada's."""
    world = await make_world(db)
    session = await admin.create_session(db, DEMO_CLONE, customer_id=world.ada, ttl_seconds=600)
    return world, claims_for(session)


async def viewer_with(db: Database, header: str | None) -> dict[str, Any]:
    headers = {} if header is None else {"Authorization": header}
    async with client_for(db) as client:
        response = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def pay_with(db: Database, header: str | None) -> dict[str, Any]:
    """Ask GraphQL to pay invoice 100123 in full with `header` as the Authorization."""
    variables = {"input": {"invoiceNumber": 100123, "currency": "NGN"}}
    async with client_for(db) as client:
        response = await client.post(
            "/graphql",
            json={"query": PAY, "variables": variables},
            headers={} if header is None else {"Authorization": header},
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("case", list(BAD_HEADERS))
async def test_a_bad_or_missing_token_is_unauthenticated_and_pays_nothing(
    db: Database, case: str
) -> None:
    # given a live session of Ada's and her unpaid invoice, which her NGN wallet covers
    world, claims = await given_ada_session(db)
    await invoice(db, 100123, world.ada, "15000")
    before = await snapshot_all(db)
    # when someone pays it with a token that is wrong in one way
    result = await pay_with(db, BAD_HEADERS[case](claims, world))
    # then it is a top-level UNAUTHENTICATED error, no data, and nothing was written
    assert error_codes(result) == ["UNAUTHENTICATED"], result
    assert result["errors"][0]["message"] == "Unauthorized"
    assert result["data"] is None
    assert await snapshot_all(db) == before


async def test_the_valid_token_of_the_bad_token_table_pays(db: Database) -> None:
    # given the same session and invoice as the table of bad tokens
    world, claims = await given_ada_session(db)
    await invoice(db, 100123, world.ada, "15000")
    # when Ada pays with the token signed as issued
    result = await pay_with(db, f"Bearer {sign(claims)}")
    # then it is paid: the table's refusals come from the one thing wrong with each token
    assert result == {"data": {"payInvoice": {"__typename": "PayInvoiceSuccess"}}}


async def test_a_valid_token_of_a_live_session_works(db: Database) -> None:
    # given a live session of Ada's and the token issued for it
    world, claims = await given_ada_session(db)
    # when she asks who she is with it, in any case of the scheme
    result = await viewer_with(db, f"Bearer {sign(claims)}")
    lower = await viewer_with(db, f"bearer {sign(claims)}")
    # then she is Ada
    assert result == lower == {"data": {"viewer": {"id": world.ada}}}


async def test_a_revoked_session_is_unauthenticated(db: Database) -> None:
    # given a session of Ada's that worked, then was revoked
    _world, claims = await given_ada_session(db)
    assert "errors" not in await viewer_with(db, f"Bearer {sign(claims)}")
    await admin.revoke_session(db, DEMO_CLONE, claims["jti"])
    # when she uses its token again
    result = await viewer_with(db, f"Bearer {sign(claims)}")
    # then it is UNAUTHENTICATED
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def test_a_session_expired_on_the_server_is_unauthenticated(db: Database) -> None:
    # given a session of Ada's whose server-side expiry has passed, though the token's has not
    _world, claims = await given_ada_session(db)
    async with db.engine.begin() as connection:
        await connection.execute(
            update(AuthSession)
            .where(col(AuthSession.jti) == claims["jti"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    # when she uses the token
    result = await viewer_with(db, f"Bearer {sign(claims)}")
    # then it is UNAUTHENTICATED
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def test_an_unauthenticated_request_is_refused_through_the_helper_too(
    db: Database,
) -> None:
    # given the world
    await make_world(db)
    async with client_for(db) as client:
        # when a request carries no token at all
        result = await gql(client, VIEWER)
    # then it is UNAUTHENTICATED
    assert error_codes(result) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "secret",
    [None, "", "short", "x" * 31, "é" * 15],
    ids=["missing", "empty", "short", "31 bytes", "30 bytes of 15 characters"],
)
def test_a_missing_or_short_jwt_secret_is_refused(secret: str | None) -> None:
    # given settings with no secret, or one shorter than 32 bytes
    settings = Settings(jwt_secret=secret or None)
    # when the signing configuration is checked, or the app is created
    # then each refuses with a ConfigError
    with pytest.raises(ConfigError):
        settings.check_signing()
    with pytest.raises(ConfigError):
        create_app(settings, db=Database("sqlite+aiosqlite:///:memory:"))


def test_a_missing_secret_from_the_environment_is_refused() -> None:
    # given an environment without JWT_SECRET, and one with a short one
    # then neither yields settings that can start
    for env in ({}, {"JWT_SECRET": "too-short"}):
        with pytest.raises(ConfigError):
            Settings.from_env(env).check_signing()


@pytest.mark.parametrize("secret", ["x" * 32, "é" * 16], ids=["32 characters", "32 bytes"])
def test_a_secret_of_32_bytes_is_accepted(secret: str) -> None:
    # given a secret of exactly 32 bytes
    settings = Settings(jwt_secret=secret)
    # when checked, then nothing is raised and the app can be created
    settings.check_signing()
    assert create_app(settings, db=Database("sqlite+aiosqlite:///:memory:")) is not None
