"""Websockets are not free to hold: each open one keeps a task, buffers and, once
subscribed, event queues. This caps how many are open at once, per client address
(`WS_MAX_PER_CLIENT`) and in all (`WS_MAX_CONNECTIONS`), in this process.

Beyond a cap the upgrade is refused before it is accepted, with an HTTP answer a client
can read: 429 when this address holds its share, 503 when the process is full, both with
`X-Error-Code: TOO_MANY_CONNECTIONS` and a GraphQL error body. A socket's place is given
back however it ends (the client closing, the server closing it, an error).

Sockets that never send `connection_init` are closed by Strawberry (4408, after
`WS_INIT_TIMEOUT`); this only counts them (`invoicepay_websocket_init_timeouts_total`).
"""

from __future__ import annotations

from collections import Counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.request_context import send_error
from app.observability import metrics

TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
FROM_THIS_ADDRESS = "Too many websocket connections from this address"
IN_ALL = "Too many websocket connections; try again later"
# graphql-transport-ws: "Connection initialisation timeout".
INIT_TIMEOUT_CODE = 4408
# The ASGI extension that lets a websocket be answered with an HTTP response.
DENIAL_RESPONSE = "websocket.http.response"
# Without that extension: "Try Again Later" (servers answer a close before accept with 403).
TRY_AGAIN_LATER = 1013


class WebSocketLimit:
    """Wraps the websocket endpoint; reads the client's address that the traffic guard
    put in `scope["state"]["client_ip"]` (behind a trusted proxy, the forwarded one)."""

    def __init__(self, app: ASGIApp, per_client: int, total: int) -> None:
        self.app = app
        self.per_client = per_client
        self.total = total
        self.by_client: Counter[str] = Counter()
        self.open = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        client = scope.get("state", {}).get("client_ip", "unknown")
        # Checked and taken with no await between: one event loop, so no other socket
        # can slip in after the check.
        if self.open >= self.total:
            await refuse(scope, send, "total", 503, IN_ALL)
            return
        if self.by_client[client] >= self.per_client:
            await refuse(scope, send, "client", 429, FROM_THIS_ADDRESS)
            return
        self.by_client[client] += 1
        self.open += 1
        metrics.WEBSOCKETS_OPEN.inc()

        async def counted(message: Message) -> None:
            if message["type"] == "websocket.close" and message.get("code") == INIT_TIMEOUT_CODE:
                metrics.WEBSOCKET_INIT_TIMEOUTS.inc()
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            self.open -= 1
            self.by_client[client] -= 1
            if self.by_client[client] <= 0:
                del self.by_client[client]  # no entry left behind per address ever seen
            metrics.WEBSOCKETS_OPEN.dec()


async def refuse(scope: Scope, send: Send, cap: str, status: int, message: str) -> None:
    """Refuse the upgrade with an HTTP `status` (or a close, on a server that cannot)."""
    metrics.WEBSOCKETS_REFUSED.labels(cap).inc()
    if DENIAL_RESPONSE not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": message})
        return

    async def as_denial(http_message: Message) -> None:
        await send({**http_message, "type": f"websocket.{http_message['type']}"})

    await send_error(as_denial, scope, status, message, TOO_MANY_CONNECTIONS)
