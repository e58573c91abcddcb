"""Before any load: one request of each kind through the app in-process, checked exactly as
the load generator checks them, with the SQL each one sent recorded (statements, pool
checkouts and transactions per request, for the report)."""

from __future__ import annotations

import random
from typing import Any

import httpx

from app.config import Settings
from app.db.engine import Database
from app.web import create_app
from bench.capture import recording, summary
from bench.workload import make_calls

SKIPPED_HEADERS = ("host", "content-length")


class ProbeFailed(RuntimeError):
    pass


async def probe(
    db: Database, settings: Settings, specs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """kind -> what its one request cost in SQL; ProbeFailed if any answer is wrong."""
    app = create_app(settings, db=db)
    found: dict[str, Any] = {}
    pre_ping = bool(getattr(db.engine.sync_engine.pool, "_pre_ping", False))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for kind, spec in specs.items():
            next_call, check = make_calls(spec, random.Random(1))  # noqa: S311
            # The second of two requests is recorded: the steady state, once the process
            # remembers the caller's token and session (app.auth.tokens).
            for recorded in (False, True):
                call = next_call()
                head, _, body = call.raw.partition(b"\r\n\r\n")
                request_line, *header_lines = head.decode().split("\r\n")
                method, path, _ = request_line.split(" ")
                headers = dict(line.split(": ", 1) for line in header_lines)
                headers = {k: v for k, v in headers.items() if k.lower() not in SKIPPED_HEADERS}
                with recording(db) as events:
                    response = await client.request(method, path, content=body, headers=headers)
                problem = check(call, response.status_code, response.content)
                if problem is not None:
                    raise ProbeFailed(f"{kind}: {problem}")
                if recorded:
                    found[kind] = summary(events, pre_ping=pre_ping)
    return found
