"""Bearer JWTs bound to server-side sessions (`jti`): issue, verify, authenticate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from app.auth.jwks import JwksKeys, KeyUnavailable
from app.config import Settings
from app.db.engine import Database
from app.db.models import CUSTOMER_SUSPENDED, AuthSession
from app.db.uow import UnitOfWork

REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti"]
# Tokens whose signature and claims were verified, kept until they expire (at most this
# many; the oldest goes first). Revocation is unaffected: every request still reads its
# session (`authenticate`), this only spares the signature check.
VERIFIED_TOKENS = 4096
# Sessions found live, remembered for the payment paths only (see `Sessions`).
REMEMBERED_SESSIONS = 4096
CUSTOMER_SCOPE = "payments"
ADMIN_SCOPE = "admin"


class AuthError(Exception):
    """The request is not authenticated (one answer for every reason: 401)."""


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    subject: str
    scopes: frozenset[str]
    jti: str
    suspended: bool = False

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes

    @property
    def customer_id(self) -> str | None:
        return self.subject if CUSTOMER_SCOPE in self.scopes else None


class TokenVerifier:
    """Checks signature and claims with pinned algorithms: keys from the JWKS URL when one
    is configured, else the public key (RS256/ES256), else the shared secret (HS256)."""

    def __init__(self, settings: Settings, jwks: JwksKeys | None = None) -> None:
        settings.check_signing()
        self.settings = settings
        if jwks is None and settings.jwt_jwks_url:
            jwks = JwksKeys(settings.jwt_jwks_url)
        self.jwks = jwks
        # token -> (its claims, the key that verified it): see VERIFIED_TOKENS
        self.verified: dict[str, tuple[dict[str, Any], Any]] = {}
        if settings.jwt_public_key:
            self.key: Any = settings.jwt_public_key
            self.algorithms = ["RS256", "ES256"]
        else:
            secret = settings.jwt_secret
            self.key = secret.get_secret_value() if secret is not None else None
            self.algorithms = ["HS256"]

    async def signing_key(self, token: str) -> tuple[Any, list[str]]:
        """The key to verify `token` with, and the only algorithms it may be signed with."""
        if self.jwks is None:
            return self.key, self.algorithms
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise AuthError(str(error)) from None
        if not isinstance(kid, str) or not kid:
            raise AuthError("token has no kid")
        try:
            found = await self.jwks.key_for(kid)
        except KeyUnavailable as error:
            raise AuthError(str(error)) from None
        return found.key, [found.algorithm]

    async def decode(self, token: str) -> dict[str, Any]:
        """The claims of `token`, once its signature, algorithm, expiry, audience, issuer
        and required claims are checked. A token verified before is answered from memory
        while it has not expired and the key that verified it is still the key for it (a
        key gone from the JWKS takes its tokens with it)."""
        key, algorithms = await self.signing_key(token)
        known = self.verified.get(token)
        if known is not None:
            claims, verified_with = known
            if verified_with is key and time.time() < claims["exp"]:
                return dict(claims)
            del self.verified[token]
        claims = self._verify(token, key, algorithms)
        if len(self.verified) >= VERIFIED_TOKENS:
            del self.verified[next(iter(self.verified))]
        self.verified[token] = (claims, key)
        return dict(claims)

    def _verify(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_aud": self.settings.jwt_audience is not None,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise AuthError(str(error)) from None
        for claim in ("sub", "jti", "clone_id", "scope"):
            if not isinstance(claims.get(claim), str) or not claims[claim]:
                raise AuthError(f"claim {claim} missing")
            # PostgreSQL text cannot hold NUL: looking such a jti up would fail, not miss.
            if "\x00" in claims[claim]:
                raise AuthError(f"claim {claim} malformed")
        return claims


def bearer_token(header: str | None) -> str:
    if not header:
        raise AuthError("no Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("not a bearer token")
    return token.strip()


async def authenticate(
    db: Database, verifier: TokenVerifier, header: str | None, sessions: Sessions | None = None
) -> Principal:
    """The principal behind an `Authorization` header, or AuthError. With `sessions`
    (a payment path whose own read confirms the session, `PayInvoice.session_jti`), a
    session remembered there is not read again."""
    claims = await verifier.decode(bearer_token(header))
    found = None if sessions is None else sessions.get(claims["jti"])
    if found is None:
        found = await _session(db, claims["jti"])
        if found is None:
            raise AuthError("unknown session")
        if session_ended(found.revoked_at, found.expires_at):
            raise AuthError("unknown or revoked session")
    # The session fixes who it is: a token claiming another subject, tenant or scope
    # (a customer's session signed with `admin`) is refused, never believed.
    if not claims_match(found, claims):
        raise AuthError("token disagrees with its session")
    if sessions is not None:
        sessions.keep(found)
    return Principal(
        tenant_id=found.tenant_id,
        subject=found.subject,
        scopes=scope_words(found.scope),
        jti=found.jti,
        suspended=found.customer_status == CUSTOMER_SUSPENDED,
    )


def session_ended(revoked_at: datetime | None, expires_at: datetime) -> bool:
    """Whether a session no longer stands: revoked, or past its server-side expiry."""
    return revoked_at is not None or expires_at.timestamp() < time.time()


class Sessions:
    """Sessions found live and of a customer not suspended, remembered by this process
    (at most REMEMBERED_SESSIONS, the oldest out first, each until it expires) so that a
    payment does not read its session before the payment's own read, which reads it
    anyway and refuses the payment if it was revoked, expired or its customer suspended
    meanwhile (`PayInvoice.session_jti`; the edge then `forget`s it). Revocation is thus
    as immediate as before: no payment is made under an ended session. What can differ,
    once per revoked session and process, is which refusal comes first: a remembered
    session's request that is also over its rate limit, or malformed, is answered 429 or
    400 before the payment's read would answer 401. Nothing but the payment paths may use
    it: every other request reads its session."""

    def __init__(self, size: int = REMEMBERED_SESSIONS) -> None:
        self.size = size
        self.found: dict[str, _Session] = {}

    def get(self, jti: str) -> _Session | None:
        found = self.found.get(jti)
        if found is not None and session_ended(found.revoked_at, found.expires_at):
            self.forget(jti)
            return None
        return found

    def keep(self, session: _Session) -> None:
        if session.customer_status == CUSTOMER_SUSPENDED or session.jti in self.found:
            return
        if len(self.found) >= self.size:
            del self.found[next(iter(self.found))]
        self.found[session.jti] = session

    def forget(self, jti: str) -> None:
        self.found.pop(jti, None)


def scope_words(scope: str) -> frozenset[str]:
    """A `scope` as the set of its space-separated words (order and spacing carry nothing)."""
    return frozenset(scope.split())


def claims_match(session: _Session, claims: dict[str, Any]) -> bool:
    """`sub` and `clone_id` equal the session's exactly; `scope` has the same words."""
    return (
        claims["sub"] == session.subject
        and claims["clone_id"] == session.tenant_id
        and scope_words(claims["scope"]) == scope_words(session.scope)
    )


@dataclass(frozen=True)
class _Session:
    jti: str
    tenant_id: str
    subject: str
    scope: str
    expires_at: datetime
    revoked_at: datetime | None
    customer_status: str | None  # None: the subject is no customer (an admin)


# Every authenticated request asks this: on PostgreSQL one prepared statement on the hot
# path's pool (app.db.engine), no transaction around it.
SESSION_SQL = """
SELECT s.jti, s.tenant_id, s.subject, s.scope, s.expires_at, s.revoked_at, c.status
FROM sessions s
LEFT JOIN customers c ON c.id = s.subject AND c.tenant_id = s.tenant_id
WHERE s.jti = $1
"""


async def _session(db: Database, jti: str) -> _Session | None:
    if not db.is_sqlite:
        async with (await db.pg_pool()).acquire() as connection:
            row = await db.pg_fetchrow(connection, SESSION_SQL, jti)
        return None if row is None else _Session(*row.values())
    async with UnitOfWork(db) as uow:
        found = await uow.sessions.get_with_customer_status(jti)
    if found is None:
        return None
    session, status = found
    return _Session(
        session.jti,
        session.tenant_id,
        session.subject,
        session.scope,
        session.expires_at,
        session.revoked_at,
        status,
    )


def issue_token(settings: Settings, session: AuthSession) -> str:
    """A signed HS256 token for `session` (used by `invoicepay token` and `seed`)."""
    settings.check_can_issue_tokens()
    assert settings.jwt_secret is not None
    claims: dict[str, Any] = {
        "sub": session.subject,
        "jti": session.jti,
        "clone_id": session.tenant_id,
        "scope": session.scope,
        "iat": int(session.created_at.timestamp()),
        "exp": int(session.expires_at.timestamp()),
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
