"""One measurement: a load (the HTTP load generator, or pgbench) and what it cost.

`Result` is a row of the table: throughput, latency, errors and CPU milliseconds per
request for the app, PostgreSQL and the load generator, plus how busy the rest of the
machine was meanwhile (`other_cpu_pct`: anything else running skews the figures).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import cpu
from bench.pgbench import Outcome

ROOT = Path(__file__).resolve().parent.parent
CORES = os.cpu_count() or 1
EXTRA_SECONDS = 60  # beyond warm-up and duration, before a load generator is killed


@dataclass
class Result:
    key: str  # a, b, c, d, e
    name: str
    scenario: str
    requests: int
    seconds: float
    throughput: float
    latency_ms: dict[str, float | None]
    errors: int
    error_samples: list[str]
    app_cpu_ms: float | None
    pg_cpu_ms: float | None
    client_cpu_ms: float | None
    other_cpu_pct: float | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _per_request(seconds: float | None, requests: int) -> float | None:
    if seconds is None or requests == 0:
        return None
    return seconds * 1000 / requests


def _other_pct(usage: cpu.Usage, wall: float) -> float | None:
    known = [usage.app or 0.0, usage.postgres or 0.0, usage.client or 0.0]
    if wall <= 0 or usage.postgres is None:
        return None
    return max(0.0, usage.machine - sum(known)) / (wall * CORES) * 100


def from_pgbench(key: str, name: str, scenario: str, outcome: Outcome) -> Result:
    # CPU is over pgbench's whole run, so per transaction over all it processed.
    return Result(
        key=key,
        name=name,
        scenario=scenario,
        requests=outcome.transactions,
        seconds=outcome.seconds,
        throughput=outcome.transactions / outcome.seconds,
        latency_ms=outcome.latency_ms,
        errors=outcome.failed,
        error_samples=[outcome.problem] if outcome.problem else [],
        app_cpu_ms=None,
        pg_cpu_ms=_per_request(outcome.usage.postgres, outcome.processed),
        client_cpu_ms=_per_request(outcome.usage.client, outcome.processed),
        other_cpu_pct=_other_pct(outcome.usage, outcome.wall),
        detail={"processed": outcome.processed},
    )


def failed(key: str, name: str, scenario: str, why: str) -> Result:
    """The row of a measurement that produced nothing."""
    return Result(key, name, scenario, 0, 0.0, 0.0, {}, 1, [why], None, None, None, None)


class LoadFailed(RuntimeError):
    pass


def http_load(
    key: str,
    name: str,
    scenario: str,
    spec: dict[str, Any],
    meter: cpu.Meter,
    *,
    cpus: str | None = None,
) -> tuple[Result, dict[str, Any]]:
    """Run the load generator on `spec`; the row, and the generator's own report."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    spec_path = Path(handle.name)
    pin = ["taskset", "-c", cpus] if cpus else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
        [*pin, sys.executable, "-m", "bench.load", str(spec_path)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + spec["warmup"] + spec["duration"] + EXTRA_SECONDS
    samples: dict[str, tuple[cpu.Sample, float]] = {}
    report: dict[str, Any] | None = None
    try:
        assert process.stdout is not None
        for line in _lines(process.stdout.fileno(), deadline):
            if line in ("START", "END"):
                samples[line] = (meter.sample(process.pid), time.monotonic())
            elif line.startswith("{"):
                report = json.loads(line)
        process.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        spec_path.unlink(missing_ok=True)
    if report is None or "START" not in samples or "END" not in samples:
        raise LoadFailed(f"the load generator gave no report (exit {process.returncode})")
    (before, began), (after, ended) = samples["START"], samples["END"]
    usage = cpu.usage(before, after)
    ok = int(report["ok"])
    row = Result(
        key=key,
        name=name,
        scenario=scenario,
        requests=int(report["requests"]),
        seconds=float(report["seconds"]),
        throughput=float(report["throughput"]),
        latency_ms=report["latency_ms"],
        errors=int(report["errors"]),
        error_samples=list(report["error_samples"]),
        app_cpu_ms=_per_request(usage.app, ok),
        pg_cpu_ms=_per_request(usage.postgres, ok),
        client_cpu_ms=_per_request(usage.client, ok),
        other_cpu_pct=_other_pct(usage, ended - began),
    )
    return row, report


def _lines(fd: int, deadline: float) -> Iterator[str]:
    """Lines a child writes on `fd`, until it closes it or the deadline passes."""
    pending = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode(errors="replace").strip()
