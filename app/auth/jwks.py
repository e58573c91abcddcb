"""Public signing keys fetched from `JWT_JWKS_URL`, cached and looked up by `kid`.

The set is fetched with httpx's async client (never blocking the event loop), kept for
`cache_seconds`, and fetched again at most once per `refetch_interval`: tokens carrying
random kids cannot hammer the JWKS server, nor can a server that is down. When a fetch
fails, the keys fetched last stay in use until one succeeds. Only RSA (RS256, 2048 bits
or more) and P-256 (ES256) public keys are usable; HMAC, private and other keys are
skipped, so their kids are unknown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
REFETCH_INTERVAL = 30.0
TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 256 * 1024
MIN_RSA_BITS = 2048


class KeyUnavailable(Exception):
    """No usable key for a token's kid (unknown, unusable, or the set cannot be fetched)."""


@dataclass(frozen=True)
class SigningKey:
    key: Any
    algorithm: str


def usable_key(entry: dict[str, Any]) -> SigningKey | None:
    """The verifying key of one JWK, or None when it must not verify tokens."""
    if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") not in ("RS256", "ES256"):
        return None
    try:
        key = jwt.PyJWK(entry).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return SigningKey(key, "RS256")
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return SigningKey(key, "ES256")
    return None


def parse_key_set(document: object) -> dict[str, SigningKey]:
    """The usable keys of a JWKS document by kid (ValueError when it is no key set)."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWK set")
    keys: dict[str, SigningKey] = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if isinstance(kid, str) and kid:
            key = usable_key(entry)
            if key is not None:
                keys[kid] = key
    return keys


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = CACHE_SECONDS,
        refetch_interval: float = REFETCH_INTERVAL,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.clock = clock
        # Built once: loading CA certificates is blocking work, not for a request.
        self._tls = httpx.create_ssl_context()
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> SigningKey:
        if kid not in self._keys or not self._fresh():
            # One fetch at a time: requests arriving meanwhile then find it done.
            async with self._lock:
                if kid not in self._keys or not self._fresh():
                    await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise KeyUnavailable(f"no usable key with kid {kid!r}")
        return key

    def _fresh(self) -> bool:
        fetched_at = self._fetched_at
        return fetched_at is not None and self.clock() - fetched_at < self.cache_seconds

    async def _refresh(self) -> None:
        now = self.clock()
        if self._attempted_at is not None and now - self._attempted_at < self.refetch_interval:
            return
        self._attempted_at = now
        try:
            keys = parse_key_set(await self._fetch())
        except (httpx.HTTPError, ValueError, RecursionError) as error:
            log.warning("fetching the JWKS from %s failed: %s", self.url, error)
            return
        self._keys = keys
        self._fetched_at = now

    async def _fetch(self) -> object:
        body = bytearray()
        async with (
            httpx.AsyncClient(timeout=self.timeout, verify=self._tls) as client,
            client.stream("GET", self.url, headers={"Accept": "application/json"}) as response,
        ):
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise ValueError("JWKS document too large")
        return json.loads(body)
