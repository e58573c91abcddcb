"""Bearer tokens: every way a token can be wrong is the same top-level UNAUTHENTICATED
error; a valid token bound to a live session works; a weak signing key refuses to start."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from app.billing import admin
from app.config import ConfigError, Settings
from app.db.engine import Database
from app.db.models import AuthSession, utcnow
from app.web import create_app
from tests.support import (
    BAD_HEADERS,
    DEMO_CLONE,
    PAY_OUTCOME,
    VIEWER,
    client_for,
    error_codes,
    given_ada_session,
    gql,
    invoice,
    make_world,
    sign,
    snapshot_all,
)


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
            json={"query": PAY_OUTCOME, "variables": variables},
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
