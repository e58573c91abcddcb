"""Signing material for tests: the app's test secret, asymmetric keys, and tokens made
by hand the way a client or an attacker would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.db.models import AuthSession

SECRET = "test-secret-" + "x" * 40
OTHER_SECRET = "another-secret-" + "y" * 40
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(claims: dict[str, Any], secret: bytes, kid: str | None = None) -> str:
    """PyJWT will not sign HMAC with a PEM key, so an attacker would do it by hand."""

    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = {"alg": "HS256", "typ": "JWT"} | ({} if kid is None else {"kid": kid})
    head = part(json.dumps(header).encode())
    body = part(json.dumps(claims).encode())
    signature = part(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + signature).decode()


def sign(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


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
