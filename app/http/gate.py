"""The gateway checks every payment attempt passes, REST or GraphQL, after the token:
the traffic guard (Check.FORBIDDEN) and the rate limit (Check.RATE_LIMITED)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.auth.tokens import Principal, Sessions, TokenVerifier, authenticate
from app.db.engine import Database
from app.http.ratelimit import RateDecision, RateLimiter
from app.observability.request_info import note_principal


@dataclass
class Gate:
    db: Database
    verifier: TokenVerifier
    limiter: RateLimiter
    sessions: Sessions = field(default_factory=Sessions)

    async def authenticate(self, authorization: str | None, *, paying: bool = False) -> Principal:
        """The principal behind an `Authorization` header, or AuthError (Check.UNAUTHENTICATED).
        `paying`: for a payment whose read confirms the session (`PayInvoice.session_jti`),
        so a remembered session is not read first (app.auth.tokens.Sessions)."""
        sessions = self.sessions if paying else None
        principal = await authenticate(self.db, self.verifier, authorization, sessions)
        note_principal(principal)  # tenant and customer on the request's log lines
        return principal

    @staticmethod
    def denies(principal: Principal, clone_ids: Iterable[object]) -> bool:
        """A suspended customer, or any `cloneId` given (not None) naming a tenant other
        than the token's."""
        return principal.suspended or any(
            clone_id is not None and clone_id != principal.tenant_id for clone_id in clone_ids
        )

    async def consume(self, principal: Principal, client_ip: str, cost: int) -> RateDecision:
        """Count `cost` payment attempts against the caller and against its IP."""
        identities = [f"principal:{principal.tenant_id}:{principal.subject}", f"ip:{client_ip}"]
        return await self.limiter.consume(identities, cost)
