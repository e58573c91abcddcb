"""`JWT_JWKS_URL`: tokens verified with keys fetched from a JWKS server (served here
in-process on 127.0.0.1), cached, looked up by kid and refetched at most once per
interval; whatever goes wrong with the key set is a 401, never a 500."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, RSAAlgorithm

from app.auth.jwks import JwksKeys, parse_key_set
from app.auth.tokens import AuthError, TokenVerifier, authenticate
from app.db.engine import Database
from tests.support import (
    EC_KEY,
    RSA_KEY,
    SECRET,
    VIEWER,
    client_for,
    error_codes,
    given_ada_session,
    gql,
    hs256_by_hand,
    invoice,
    public_pem,
    snapshot_all,
)
from tests.support import PAY_OUTCOME as PAY
from tests.support import test_settings as settings_for

PATH = "/api/v1/billing/invoice/pay"
PAY_BODY = {"invoice": 100123, "currency": "NGN"}
NEW_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
HMAC_SECRET = b"h" * 32


def jwk(key: Any, kid: str) -> dict[str, Any]:
    """The JWK of `key` (its public half for RSA/EC key objects) named `kid`."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        data = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        data = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        data = HMACAlgorithm.to_jwk(key, as_dict=True)
    return {**data, "kid": kid}


RSA_JWK = jwk(RSA_KEY.public_key(), "rsa-1")
EC_JWK = jwk(EC_KEY.public_key(), "ec-1")
HMAC_JWK = jwk(HMAC_SECRET, "hmac-1")
PRIVATE_JWK = jwk(NEW_RSA_KEY, "private-1")  # private material published by mistake


class KeySetServer:
    """A JWKS endpoint in a thread on a random port; counts the fetches it answers."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.fetches = 0
        self.delay = 0.0
        self.status = 200
        self.body: bytes | None = None  # instead of the key set, when set
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                time.sleep(server.delay)
                body = server.body or json.dumps({"keys": server.keys}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[KeySetServer]:
    key_set = KeySetServer([RSA_JWK, EC_JWK, HMAC_JWK, PRIVATE_JWK])
    try:
        yield key_set
    finally:
        key_set.stop()


def signed(claims: dict[str, Any], key: Any, algorithm: str, kid: str | None) -> str:
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def verifier_for(db: Database, server: KeySetServer, clock: Clock) -> TokenVerifier:
    keys = JwksKeys(server.url, cache_seconds=300, refetch_interval=30, clock=clock)
    return TokenVerifier(settings_for(db.url, jwt_jwks_url=server.url), jwks=keys)


async def accepted(db: Database, verifier: TokenVerifier, token: str) -> bool:
    try:
        await authenticate(db, verifier, f"Bearer {token}")
    except AuthError:
        return False
    return True


@dataclass
class Fetched:
    """A verifier that fetched the key set at t0, having accepted Ada's RS256 `token`."""

    claims: dict[str, Any]
    clock: Clock
    verifier: TokenVerifier
    token: str


async def fetched_at_t0(db: Database, server: KeySetServer) -> Fetched:
    _world, claims = await given_ada_session(db)
    clock = Clock()
    verifier = verifier_for(db, server, clock)
    token = signed(claims, RSA_KEY, "RS256", "rsa-1")
    assert await accepted(db, verifier, token)
    return Fetched(claims, clock, verifier, token)


@pytest.fixture
async def t0(db: Database, server: KeySetServer) -> Fetched:
    return await fetched_at_t0(db, server)


async def refused_both_ways(db: Database, server: KeySetServer, token: str) -> None:
    """Pay invoice 100123 over REST, then over GraphQL, with `token` (JWKS configured):
    both answer unauthenticated (not an error of the service) and nothing is written."""
    before = await snapshot_all(db)
    variables = {"input": {"invoiceNumber": 100123, "currency": "NGN"}}
    async with client_for(db, jwt_jwks_url=server.url) as client:
        response = await client.post(
            PATH, json=PAY_BODY, headers={"Authorization": f"Bearer {token}"}
        )
        result = await gql(client, PAY, variables, token)
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Unauthorized"}
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert await snapshot_all(db) == before


@pytest.mark.parametrize(
    ("key", "algorithm", "kid"), [(RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")]
)
async def test_rs256_and_es256_tokens_are_accepted_by_kid(
    db: Database, server: KeySetServer, key: Any, algorithm: str, kid: str
) -> None:
    # given Ada's unpaid invoice and a token signed by a key of the JWKS, named by its kid
    world, claims = await given_ada_session(db)
    await invoice(db, 100123, world.ada, "15000")
    token = signed(claims, key, algorithm, kid)
    async with client_for(db, jwt_jwks_url=server.url) as client:
        # when she asks who she is over GraphQL and pays over REST
        viewer = await gql(client, VIEWER, token=token)
        response = await client.post(
            PATH, json=PAY_BODY, headers={"Authorization": f"Bearer {token}"}
        )
    # then she is Ada, the invoice is paid, and the key set was fetched once
    assert viewer == {"data": {"viewer": {"id": world.ada}}}
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"
    assert server.fetches == 1


async def test_the_key_set_is_fetched_once_for_many_requests(
    db: Database, server: KeySetServer
) -> None:
    # given Ada's tokens signed by both keys of the JWKS
    world, claims = await given_ada_session(db)
    tokens = [signed(claims, RSA_KEY, "RS256", "rsa-1"), signed(claims, EC_KEY, "ES256", "ec-1")]
    async with client_for(db, jwt_jwks_url=server.url) as client:
        # when she makes many requests, one after another and then at once
        answers = [await gql(client, VIEWER, token=tokens[i % 2]) for i in range(10)]
        answers += await asyncio.gather(
            *(gql(client, VIEWER, token=tokens[i % 2]) for i in range(10))
        )
    # then every one is hers, and the key set was fetched once
    assert all(answer == {"data": {"viewer": {"id": world.ada}}} for answer in answers)
    assert server.fetches == 1


BAD_TOKENS = {
    "no kid": lambda c: signed(c, RSA_KEY, "RS256", None),
    "a kid not in the set": lambda c: signed(c, RSA_KEY, "RS256", "rsa-404"),
    "the kid of an HMAC key in the set": lambda c: signed(c, HMAC_SECRET, "HS256", "hmac-1"),
    "the kid of a private key in the set": lambda c: signed(c, NEW_RSA_KEY, "RS256", "private-1"),
    "HS256 with the shared secret": lambda c: signed(c, SECRET, "HS256", "rsa-1"),
    "HS256 with the RSA public key as secret": lambda c: hs256_by_hand(
        c, public_pem(RSA_KEY).encode(), kid="rsa-1"
    ),
    "RS256 by another key under a known kid": lambda c: signed(c, NEW_RSA_KEY, "RS256", "rsa-1"),
    "ES256 under the kid of the RSA key": lambda c: signed(c, EC_KEY, "ES256", "rsa-1"),
    "RS256 under the kid of the EC key": lambda c: signed(c, RSA_KEY, "RS256", "ec-1"),
    "RS512 by the RSA key": lambda c: signed(c, RSA_KEY, "RS512", "rsa-1"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_a_token_the_key_set_cannot_verify_gets_401(
    db: Database, server: KeySetServer, case: str
) -> None:
    # given Ada's unpaid invoice and a token for her session that the JWKS must not verify
    world, claims = await given_ada_session(db)
    await invoice(db, 100123, world.ada, "15000")
    token = BAD_TOKENS[case](claims)
    # when it is used to pay over REST and over GraphQL, then both refuse it as
    # unauthenticated and nothing was written
    await refused_both_ways(db, server, token)
    # and the key set was fetched once at most
    assert server.fetches <= 1


async def test_unknown_kids_cannot_make_the_service_hammer_the_key_server(
    db: Database, server: KeySetServer
) -> None:
    # given the service has fetched the key set for one of Ada's tokens
    _world, claims = await given_ada_session(db)
    async with client_for(db, jwt_jwks_url=server.url) as client:
        good = signed(claims, RSA_KEY, "RS256", "rsa-1")
        assert (await gql(client, VIEWER, token=good))["data"]["viewer"] is not None
        # when many tokens with random kids arrive at once
        tokens = [signed(claims, RSA_KEY, "RS256", f"random-{i}") for i in range(20)]
        responses = await asyncio.gather(
            *(
                client.post(PATH, json=PAY_BODY, headers={"Authorization": f"Bearer {token}"})
                for token in tokens
            )
        )
    # then each gets 401, and the key set was not fetched again within the interval
    assert [response.status_code for response in responses] == [401] * 20
    assert server.fetches == 1


async def test_unknown_kids_refetch_at_most_once_per_interval(
    db: Database, server: KeySetServer
) -> None:
    # given a verifier whose key set was fetched at t0 (refetch interval 30 s)
    t0 = await fetched_at_t0(db, server)
    clock, verifier = t0.clock, t0.verifier
    unknown = signed(t0.claims, RSA_KEY, "RS256", "rsa-404")
    # when unknown kids arrive within the interval, then after it, then within the next
    for offset, fetches in ((1, 1), (29, 1), (31, 2), (45, 2), (60, 2), (61, 3)):
        clock.now = 1000.0 + offset
        assert not await accepted(db, verifier, unknown)
        # then the key set is fetched again only once each interval has passed
        assert server.fetches == fetches, offset


async def test_a_rotated_key_is_picked_up_after_the_refetch_interval(
    db: Database, server: KeySetServer
) -> None:
    # given a verifier that fetched the key set at t0
    t0 = await fetched_at_t0(db, server)
    clock, verifier = t0.clock, t0.verifier
    # when the server publishes a new key and a token signed by it arrives at once
    server.keys = [*server.keys, jwk(NEW_RSA_KEY.public_key(), "rsa-2")]
    rotated = signed(t0.claims, NEW_RSA_KEY, "RS256", "rsa-2")
    clock.now += 5
    # then it is refused until the refetch interval has passed, then accepted
    assert not await accepted(db, verifier, rotated)
    assert server.fetches == 1
    clock.now += 30
    assert await accepted(db, verifier, rotated)
    assert server.fetches == 2


async def test_cached_keys_expire_and_a_withdrawn_key_stops_working(
    db: Database, server: KeySetServer, t0: Fetched
) -> None:
    # given a verifier that fetched the key set at t0 (kept 300 s)
    clock, verifier, token = t0.clock, t0.verifier, t0.token
    # when the server withdraws the RSA key
    server.keys = [EC_JWK]
    # then the cached key works until the cache expires, and not after
    clock.now += 299
    assert await accepted(db, verifier, token)
    assert server.fetches == 1
    clock.now += 2
    assert not await accepted(db, verifier, token)
    assert server.fetches == 2


async def test_known_keys_stay_in_use_while_the_key_server_fails(
    db: Database, server: KeySetServer, t0: Fetched
) -> None:
    # given a verifier that fetched the key set at t0, when the server fails once the cache
    # has expired
    server.status = 503
    clock, verifier, token = t0.clock, t0.verifier, t0.token
    clock.now += 301
    # then the token still works, and the failing server is asked once per interval
    assert await accepted(db, verifier, token)
    clock.now += 10
    assert await accepted(db, verifier, token)
    assert server.fetches == 2
    clock.now += 30
    assert await accepted(db, verifier, token)
    assert server.fetches == 3


def answering_503(server: KeySetServer) -> None:
    server.status = 503


def answering_no_json(server: KeySetServer) -> None:
    server.body = b"<html>maintenance</html>"


def answering_no_key_set(server: KeySetServer) -> None:
    server.body = b'{"keys": "none"}'


def answering_only_unusable_keys(server: KeySetServer) -> None:
    server.keys = [HMAC_JWK, PRIVATE_JWK]


@pytest.mark.parametrize(
    "breakage",
    [
        KeySetServer.stop,
        answering_503,
        answering_no_json,
        answering_no_key_set,
        answering_only_unusable_keys,
    ],
    ids=["down", "answering 503", "answering no JSON", "answering no key set", "no usable key"],
)
async def test_a_key_server_that_fails_gives_401_not_500(
    db: Database, server: KeySetServer, breakage: Any
) -> None:
    # given Ada's unpaid invoice, a valid token, and a key server that fails
    world, claims = await given_ada_session(db)
    await invoice(db, 100123, world.ada, "15000")
    token = signed(claims, RSA_KEY, "RS256", "rsa-1")
    breakage(server)
    # when she pays over REST and over GraphQL, then both are unauthenticated, not errors
    # of the service, and nothing was written
    await refused_both_ways(db, server, token)


async def test_fetching_the_key_set_does_not_block_the_event_loop(
    db: Database, server: KeySetServer
) -> None:
    # given a key server that takes 0.3 s to answer
    _world, claims = await given_ada_session(db)
    server.delay = 0.3
    verifier = verifier_for(db, server, Clock())
    token = signed(claims, RSA_KEY, "RS256", "rsa-1")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    # when a token is verified while another task ticks every 10 ms
    ticker = asyncio.create_task(tick())
    try:
        assert await accepted(db, verifier, token)
        ticks_during_the_fetch = ticks
    finally:
        ticker.cancel()
    # then the other task kept running while the key set was fetched
    assert ticks_during_the_fetch >= 10


async def test_requests_arriving_together_share_one_fetch(
    db: Database, server: KeySetServer
) -> None:
    # given a slow key server and a verifier that has fetched nothing yet
    _world, claims = await given_ada_session(db)
    server.delay = 0.1
    verifier = verifier_for(db, server, Clock())
    token = signed(claims, EC_KEY, "ES256", "ec-1")
    # when twenty requests arrive at once
    results = await asyncio.gather(*(accepted(db, verifier, token) for _ in range(20)))
    # then all are accepted after a single fetch
    assert results == [True] * 20
    assert server.fetches == 1


def test_only_rsa_and_p256_public_signing_keys_with_a_kid_are_usable() -> None:
    # given a key set with one usable key of each kind and many that must not verify
    weak_rsa = rsa.generate_private_key(65537, 1024)  # noqa: S505 (must be refused)
    p384 = ec.generate_private_key(ec.SECP384R1())
    document = {
        "keys": [
            RSA_JWK,
            EC_JWK,
            HMAC_JWK,
            PRIVATE_JWK,
            jwk(weak_rsa.public_key(), "rsa-1024"),
            jwk(p384.public_key(), "p-384"),
            {**RSA_JWK, "kid": "for-encryption", "use": "enc"},
            {**RSA_JWK, "kid": "rs512", "alg": "RS512"},
            {**RSA_JWK, "kid": "claims-hs256", "alg": "HS256"},
            {**EC_JWK, "kid": "ec-claims-rs256", "alg": "RS256"},
            {key: value for key, value in RSA_JWK.items() if key != "kid"},
            {**RSA_JWK, "kid": 7},
            {**RSA_JWK, "kid": "broken", "n": "not base64!"},
            {"kid": "no-kty"},
            "not a key",
        ]
    }
    # when it is parsed
    keys = parse_key_set(document)
    # then only the RSA and the P-256 key are there, each pinned to its algorithm
    assert {kid: key.algorithm for kid, key in keys.items()} == {
        "rsa-1": "RS256",
        "ec-1": "ES256",
    }


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, "keys", None])
def test_a_document_that_is_no_key_set_is_refused(document: object) -> None:
    with pytest.raises(ValueError, match="not a JWK set"):
        parse_key_set(document)
