"""Every way an Authorization header can be wrong, by name: each must be refused as
unauthenticated at every edge (tests/auth, tests/api/rest)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.support.keys import OTHER_SECRET, b64, sign
from tests.support.world import OTHER_CLONE, World


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
