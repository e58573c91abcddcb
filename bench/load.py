"""The load generator: its own process, `python -m bench.load SPEC.json`.

`clients` keep-alive HTTP/1.1 connections, each sending its next request as soon as the
last one is answered (a closed loop), on uvloop with a minimal client (no HTTP library
per request). It warms up for `warmup` seconds, then measures for `duration` seconds:
it prints `START` and `END` on stdout at those instants (the parent samples CPU time
there), and last one JSON line with counts, errors and latency percentiles.

Payments are counted in every phase (warm-up and the requests still in flight at the
end included), so the parent can check them against the database: nothing lost.

SPEC: {"host", "port", "clients", "warmup", "duration", "seed", "kind", "targets":
[[token, customer_id, invoice_number], ...], and for "page": "page_first_number",
"page_rows"}.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from bench.stats import latency_summary
from bench.workload import Call, Check, make_calls

REQUEST_TIMEOUT_SECONDS = 30.0
MAX_ERROR_SAMPLES = 5


class BadResponse(Exception):
    pass


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, measured window only
    errors: int = 0  # measured window only
    error_samples: list[str] = field(default_factory=list)
    total_requests: int = 0
    total_errors: int = 0
    paid_count: int = 0  # successful payments, every phase
    paid_minor: int = 0
    uncertain: int = 0  # payments whose outcome we never learnt (connection lost, timeout)

    def error(self, measured: bool, description: str) -> None:
        self.total_errors += 1
        if measured:
            self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES and description not in self.error_samples:
            self.error_samples.append(description)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, must close) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length: int | None = None
    chunked = close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if chunked:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        return status, b"".join(chunk[:-2] for chunk in chunks), close
    if length is None:
        return status, await reader.read(), True
    return status, await reader.readexactly(length), close


async def client(
    spec: dict[str, Any],
    next_call: Any,
    check: Check,
    tally: Tally,
    window: tuple[float, float],
) -> None:
    start, end = window
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while (began := time.perf_counter()) < end:
        call: Call = next_call()
        measured = began >= start
        error: str | None = None
        answered = False
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                if connection is None:
                    connection = await asyncio.open_connection(spec["host"], spec["port"])
                reader, writer = connection
                writer.write(call.raw)
                status, body, close = await read_response(reader)
            answered = True
            error = check(call, status, body)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as failure:
            error, close = f"{type(failure).__name__}: {failure}", True
        except TimeoutError:
            error, close = f"no answer in {REQUEST_TIMEOUT_SECONDS:.0f} s", True
        except (ValueError, KeyError, TypeError) as failure:  # a body we cannot read
            error = f"unreadable answer: {type(failure).__name__}: {failure}"
        finished = time.perf_counter()
        tally.total_requests += 1
        if error is None:
            if measured:
                tally.latencies.append(finished - began)
            if call.paid_minor:
                tally.paid_count += 1
                tally.paid_minor += call.paid_minor
        else:
            tally.error(measured, error)
            if call.paid_minor and not answered:
                tally.uncertain += 1
        if close and connection is not None:
            connection[1].close()
            connection = None
    if connection is not None:
        connection[1].close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(spec.get("seed", 1))  # noqa: S311  (load, not secrets)
    next_call, check = make_calls(spec, rng)
    tally = Tally()
    began = time.perf_counter()
    start = began + float(spec["warmup"])
    end = start + float(spec["duration"])
    clients = [
        asyncio.create_task(client(spec, next_call, check, tally, (start, end)))
        for _ in range(int(spec["clients"]))
    ]
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    print("START", flush=True)
    cpu_start = time.process_time()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    print("END", flush=True)
    cpu_used = time.process_time() - cpu_start
    _done, pending = await asyncio.wait(clients, timeout=REQUEST_TIMEOUT_SECONDS + 5)
    for task in pending:
        task.cancel()
    measured = len(tally.latencies) + tally.errors
    return {
        "requests": measured,
        "ok": len(tally.latencies),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "seconds": float(spec["duration"]),
        "throughput": len(tally.latencies) / float(spec["duration"]),
        "latency_ms": latency_summary(tally.latencies),
        "total_requests": tally.total_requests,
        "total_errors": tally.total_errors,
        "paid_count": tally.paid_count,
        "paid_minor": tally.paid_minor,
        "uncertain": tally.uncertain,
        "unfinished_clients": len(pending),
        "client_cpu_seconds": cpu_used,
    }


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = uvloop.run(run(spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
