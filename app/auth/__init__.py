"""Who is asking: bearer JWTs bound to server-side sessions (`tokens`), and public signing
keys from a JWKS URL (`jwks`)."""

from app.auth.tokens import (
    ADMIN_SCOPE,
    CUSTOMER_SCOPE,
    AuthError,
    Principal,
    TokenVerifier,
    authenticate,
    issue_token,
)

__all__ = [
    "ADMIN_SCOPE",
    "CUSTOMER_SCOPE",
    "AuthError",
    "Principal",
    "TokenVerifier",
    "authenticate",
    "issue_token",
]
