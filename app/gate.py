"""The gateway checks every payment attempt passes, REST or GraphQL, after the token:
the traffic guard (check 2) and the rate limit (check 3)."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth import Principal, TokenVerifier
from app.db import Database
from app.ratelimit import RateDecision, RateLimiter


@dataclass
class Gate:
    db: Database
    verifier: TokenVerifier
    limiter: RateLimiter

    @staticmethod
    def denies(principal: Principal, clone_id: str | None) -> bool:
        """A suspended customer, or a `cloneId` naming a tenant other than the token's."""
        return principal.suspended or (clone_id is not None and clone_id != principal.tenant_id)

    async def consume(self, principal: Principal, client_ip: str, cost: int) -> RateDecision:
        """Count `cost` payment attempts against the caller and against its IP."""
        identities = [f"principal:{principal.tenant_id}:{principal.subject}", f"ip:{client_ip}"]
        return await self.limiter.consume(identities, cost)
