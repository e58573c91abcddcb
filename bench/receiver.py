"""The webhook receiver of the webhooks row (`python -m bench.receiver --port P --out F`):
a tiny asyncio HTTP/1.1 server on loopback that answers every POST 204 and appends one
JSON line per request to F: the arrival time (epoch seconds), the `webhook-id`, the
`webhook-timestamp` and the event's `timestamp` (its createdAt) from the body."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import IO

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"  # a 204 has no body (nor a length)


def arrival(headers: dict[str, str], body: bytes, arrived: float) -> dict[str, object]:
    """One line of the record: what the lag is computed from (bench.webhooks)."""
    document = json.loads(body)
    return {
        "arrived": arrived,
        "id": headers.get("webhook-id"),
        "webhook_timestamp": int(headers.get("webhook-timestamp", "0")),
        "created_at": document.get("timestamp"),
    }


def handler(
    out: IO[str],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:  # keep-alive: the dispatcher reuses its connections
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = time.time()
                writer.write(NO_CONTENT)
                await writer.drain()
                out.write(json.dumps(arrival(headers, body, arrived)) + "\n")
                out.flush()
        writer.close()

    return serve


async def main(port: int, out_path: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with out_path.open("a") as out:
        server = await asyncio.start_server(handler(out), "127.0.0.1", port)
        async with server:
            await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.out))
