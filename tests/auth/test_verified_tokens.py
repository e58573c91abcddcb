"""The verifier remembers tokens it has verified (their signature is checked once), until
they expire; revocation stays immediate because every request still reads its session."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest

from app.auth import tokens
from app.auth.tokens import AuthError, TokenVerifier, authenticate
from app.billing import admin
from app.db.engine import Database
from tests.support import DEMO_CLONE, given_ada_session, sign
from tests.support import test_settings as settings_for


class CountedDecode:
    """`jwt.decode` as it is, counting the signatures it checks."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = jwt.decode

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> CountedDecode:
    counter = CountedDecode()
    monkeypatch.setattr(jwt, "decode", counter)
    return counter


def verifier(db: Database) -> TokenVerifier:
    return TokenVerifier(settings_for(db.url))


async def test_a_token_is_verified_once_and_then_answered_from_memory(
    db: Database, counted: CountedDecode
) -> None:
    # given Ada's token and one verifier
    _world, claims = await given_ada_session(db)
    token, checks = sign(claims), verifier(db)
    # when it authenticates three requests with it
    principals = [await authenticate(db, checks, f"Bearer {token}") for _ in range(3)]
    # then the signature was checked once, and every request is Ada's
    assert counted.calls == 1
    assert {p.subject for p in principals} == {claims["sub"]}


async def test_a_remembered_token_of_a_revoked_session_is_refused_at_once(db: Database) -> None:
    # given Ada's token, verified and remembered
    _world, claims = await given_ada_session(db)
    token, checks = sign(claims), verifier(db)
    await authenticate(db, checks, f"Bearer {token}")
    assert token in checks.verified
    # when her session is revoked
    await admin.revoke_session(db, DEMO_CLONE, claims["jti"])
    # then the very next request with the token is refused
    with pytest.raises(AuthError):
        await authenticate(db, checks, f"Bearer {token}")


async def test_a_remembered_token_is_refused_once_it_expires(
    db: Database, counted: CountedDecode
) -> None:
    # given Ada's token expiring in a second, verified and remembered
    _world, claims = await given_ada_session(db)
    expires = int(time.time()) + 1
    token, checks = sign({**claims, "exp": expires}), verifier(db)
    await checks.decode(token)
    # when it has expired
    await asyncio.sleep(expires - time.time() + 0.05)
    # then it is refused (checked again, and found expired), and forgotten
    with pytest.raises(AuthError, match="expired"):
        await checks.decode(token)
    assert counted.calls == 2
    assert token not in checks.verified


async def test_a_refused_token_is_not_remembered(db: Database) -> None:
    # given a token signed with another key
    _world, claims = await given_ada_session(db)
    forged, checks = sign(claims, key="another key of at least thirty-two bytes"), verifier(db)
    # when it is presented twice, then it is refused twice and never kept
    for _ in range(2):
        with pytest.raises(AuthError):
            await checks.decode(forged)
    assert checks.verified == {}


async def test_what_it_remembers_is_bounded_oldest_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a verifier that keeps at most two tokens
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS", 2)
    _world, claims = await given_ada_session(db)
    checks = verifier(db)
    first, second, third = (sign({**claims, "n": n}) for n in range(3))
    # when three tokens are verified in turn
    for token in (first, second, third):
        await checks.decode(token)
    # then the oldest was forgotten
    assert list(checks.verified) == [second, third]


async def test_the_remembered_claims_cannot_be_changed_by_a_caller(db: Database) -> None:
    # given a remembered token whose claims a caller changes
    _world, claims = await given_ada_session(db)
    token, checks = sign(claims), verifier(db)
    (await checks.decode(token))["sub"] = "someone else"
    # then the next answer is still the token's own
    assert (await checks.decode(token))["sub"] == claims["sub"]
