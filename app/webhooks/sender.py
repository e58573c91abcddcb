"""One POST of one delivery, as the Standard Webhooks specification has it, and what came
back: a 2xx within `TIMEOUT` seconds is success; anything else (a 3xx too: redirects are
not followed) is a failure to retry. At most 1 KiB of the response is kept."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from app.webhooks.signing import headers
from app.webhooks.urls import PinnedBackend

TIMEOUT = 10.0  # seconds for the whole POST, connection included
MAX_KEPT_BODY = 1024
MAX_ERROR = 500
USER_AGENT = "invoicepay-webhooks/1"


@dataclass(frozen=True)
class Message:
    event_id: str
    type: str
    created_at: datetime
    data: str  # the event's JSON, as stored
    url: str
    secrets: list[str]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_status: int | None
    response_body: str | None
    duration_ms: int
    error: str | None


def body(message: Message) -> bytes:
    """`{"type", "timestamp", "data": {…, "id"}}`, compact JSON."""
    data: dict[str, Any] = {**json.loads(message.data), "id": message.event_id}
    timestamp = message.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    document = {"type": message.type, "timestamp": timestamp, "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over `PinnedBackend`: each connection goes to the address that was
    checked, not to whatever the name resolves to a moment later. httpx takes no network
    backend, so its pool is replaced by one with the same settings and ours."""

    def __init__(self, *, allow_private: bool, max_connections: int) -> None:
        # Every connection kept alive: a busy dispatcher reuses all of them.
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(allow_private=allow_private),
        )


def new_client(*, allow_private: bool, max_connections: int) -> httpx.AsyncClient:
    """The one client every delivery of a dispatcher shares (its connections are reused)."""
    return httpx.AsyncClient(
        transport=PinnedTransport(allow_private=allow_private, max_connections=max_connections),
        timeout=TIMEOUT,
        follow_redirects=False,
        # No proxy or .netrc from the environment: a proxy would connect past PinnedBackend.
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )


def _kept(content: bytes) -> str:
    text = content[:MAX_KEPT_BODY].decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd")[:MAX_KEPT_BODY]  # PostgreSQL stores no NUL


async def send(client: httpx.AsyncClient, message: Message, sent_at: datetime) -> Outcome:
    payload = body(message)
    signed = headers(message.event_id, sent_at, payload, message.secrets)
    started = time.monotonic()
    status: int | None = None
    kept: str | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(TIMEOUT):
            request = client.build_request(
                "POST",
                message.url,
                content=payload,
                headers={**signed, "content-type": "application/json"},
            )
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                content = b""
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) >= MAX_KEPT_BODY:
                        break  # the rest is not read: nobody keeps it
                kept = _kept(content)
            finally:
                await response.aclose()
    except TimeoutError:
        error = f"no answer within {TIMEOUT:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:MAX_ERROR]
    duration_ms = round((time.monotonic() - started) * 1000)
    ok = status is not None and 200 <= status < 300 and error is None
    if status is not None and not ok and error is None:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return Outcome(ok, status, kept, duration_ms, error)
