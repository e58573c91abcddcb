"""The webhooks row's figures: delivery lag (a POST's arrival at the receiver minus its
event's createdAt) from bench.receiver's record, and the pay throughput it cost."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.db.engine import Database
from app.webhooks import endpoints
from bench.server import ROOT, free_port
from bench.stats import latency_summary


def read_arrivals(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lag_figures(arrivals: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Lag in ms (p50, p90, p99, max, mean) of each event's first arrival; how many events
    arrived and how many arrivals repeated one (a retry after a lost answer)."""
    first: dict[str, float] = {}
    posts = 0
    for record in arrivals:
        posts += 1
        created = datetime.fromisoformat(record["created_at"]).timestamp()
        lag = float(record["arrived"]) - created
        first[record["id"]] = min(lag, first.get(record["id"], lag))
    return {
        "events": len(first),
        "duplicates": posts - len(first),
        "lag_ms": latency_summary(list(first.values())),
    }


def throughput_ratio(with_hooks: float, without: float) -> float | None:
    """Pay throughput with a subscribed endpoint over without it (same run)."""
    return with_hooks / without if without > 0 else None


# --- the receiver process and the endpoint of the row ------------------------------------

PENDING = "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :id AND status = 'PENDING'"
DRAIN_SECONDS = 60.0  # after the load: every delivery of the row sent, or the row says not


@contextmanager
def receiver_process(out: Path, log: Path) -> Iterator[int]:
    """`python -m bench.receiver` on a free loopback port; yields the port, once listening."""
    port = free_port()
    command = [sys.executable, "-m", "bench.receiver", "--port", str(port), "--out", str(out)]
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, arguments we built)
            command, cwd=ROOT, stdout=sink, stderr=sink, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the webhook receiver did not start: {log.read_text()}")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(15)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def subscribe(database_url: str, tenant_id: str, url: str) -> str:
    """An endpoint of the bench tenant for payment.succeeded at `url`; its id."""
    db = Database(database_url)
    try:
        endpoint, _ = await endpoints.create_endpoint(
            db, tenant_id, url, ["payment.succeeded"], "bench", allow_private=True
        )
        return endpoint.row.id
    finally:
        await db.dispose()


async def drain_and_delete(database_url: str, tenant_id: str, endpoint_id: str) -> int:
    """Wait (up to DRAIN_SECONDS) until the endpoint has no pending delivery, then delete
    it so later rows pay without webhooks; the deliveries still pending."""
    db = Database(database_url)
    try:
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            async with db.engine.connect() as connection:
                pending = (
                    await connection.execute(text(PENDING), {"id": endpoint_id})
                ).scalar_one()
            if pending == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await endpoints.delete_endpoint(db, tenant_id, endpoint_id)
        return int(pending)
    finally:
        await db.dispose()
