"""Probes for orchestrators and load balancers; no token, no rate limit.

- `GET /healthz`: the process is up and serving (liveness). Touches nothing else.
- `GET /readyz`: the database answers within `READY_TIMEOUT_SECONDS` and its schema is
  at the newest migration (readiness): 200, else 503 naming the check that failed.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.db.engine import Database
from app.db.migrate import current_revision, head_revision
from app.http.request_context import describe_failure
from app.observability.request_info import current_request

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
READY_TIMEOUT_SECONDS = 2.0
OK = b'{"status":"ok"}'

log = logging.getLogger("invoicepay.health")


class _QuietRevisionReads(logging.Filter):
    """alembic announces its dialect ("Context impl …") each time readiness reads the
    revision: noise at every probe, kept out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request()
        return info is None or info.operation != "readyz"


logging.getLogger("alembic.runtime.migration").addFilter(_QuietRevisionReads())


def _json(status: int, body: bytes) -> Response:
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def healthz(_request: Request) -> Response:
    return _json(200, OK)


@cache
def _head() -> str | None:
    """The newest migration, read from migrations/ once per process."""
    return head_revision()


class Readiness:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def handle(self, _request: Request) -> Response:
        head = _head()
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                current = await current_revision(self.db.engine)
        except Exception as error:
            log.warning("not ready: the database did not answer: %s", describe_failure(error))
            return self._answer(database="unavailable", migrations="unknown")
        if current != head:
            log.warning("not ready: the database is at migration %s, not %s", current, head)
            found = f"at {current}" if current else "not migrated"
            return self._answer(database="ok", migrations=f"{found}, expected {head}")
        return self._answer(database="ok", migrations="ok")

    @staticmethod
    def _answer(*, database: str, migrations: str) -> Response:
        checks = {"database": database, "migrations": migrations}
        failed = [name for name, result in checks.items() if result != "ok"]
        body: dict[str, object] = {"status": "unavailable" if failed else "ok", "checks": checks}
        if failed:
            body["failed"] = failed
        return _json(503 if failed else 200, orjson.dumps(body))
