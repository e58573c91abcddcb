"""Token verification settings: a public key (RS256/ES256), audience and issuer."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from app.auth.tokens import AuthError, TokenVerifier, authenticate
from app.billing import admin
from app.config import Settings
from app.db.engine import Database
from tests.support import DEMO_CLONE, EC_KEY, RSA_KEY, SECRET, hs256_by_hand, public_pem


async def session_claims(db: Database) -> dict[str, Any]:
    await admin.create_tenant(db, DEMO_CLONE, "Demo Clone")
    customer = await admin.create_customer(db, DEMO_CLONE, "Ada", "ada@example.com")
    session = await admin.create_session(db, DEMO_CLONE, customer_id=customer.id, ttl_seconds=600)
    now = int(time.time())
    return {
        "sub": customer.id,
        "jti": session.jti,
        "clone_id": DEMO_CLONE,
        "scope": "payments",
        "iat": now,
        "exp": now + 600,
    }


async def test_rs256_and_es256_tokens_verify_against_the_configured_public_key(
    db: Database,
) -> None:
    claims = await session_claims(db)
    for key, algorithm in ((RSA_KEY, "RS256"), (EC_KEY, "ES256")):
        verifier = TokenVerifier(Settings(database_url=db.url, jwt_public_key=public_pem(key)))
        token = jwt.encode(claims, key, algorithm=algorithm)
        principal = await authenticate(db, verifier, f"Bearer {token}")
        assert principal.customer_id == claims["sub"]


async def test_an_hs256_token_signed_with_the_public_key_is_refused(db: Database) -> None:
    # given RS256 configured: the classic confusion signs HS256 with the public key as secret
    claims = await session_claims(db)
    pem = public_pem(RSA_KEY)
    verifier = TokenVerifier(Settings(database_url=db.url, jwt_public_key=pem))
    forged = hs256_by_hand(claims, pem.encode())
    with pytest.raises(AuthError):
        await authenticate(db, verifier, f"Bearer {forged}")


async def test_audience_and_issuer_must_match_when_configured(db: Database) -> None:
    claims = await session_claims(db)
    settings = Settings(
        database_url=db.url, jwt_secret=SECRET, jwt_audience="invoicepay", jwt_issuer="auth.test"
    )
    verifier = TokenVerifier(settings)
    good = {**claims, "aud": "invoicepay", "iss": "auth.test"}
    principal = await authenticate(db, verifier, f"Bearer {jwt.encode(good, SECRET)}")
    assert principal.tenant_id == DEMO_CLONE
    for wrong in (
        {**claims, "aud": "other", "iss": "auth.test"},
        {**claims, "aud": "invoicepay", "iss": "elsewhere"},
        claims,  # neither claim present
    ):
        with pytest.raises(AuthError):
            await authenticate(db, verifier, f"Bearer {jwt.encode(wrong, SECRET)}")
