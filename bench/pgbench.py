"""pgbench: the database's own limit (a) and the app's pay SQL replayed (b).

Both run in prepared mode (`-M prepared`), as asyncpg sends the app's statements, with
per-transaction logs (`-l`) from which throughput and latency are taken after the same
warm-up the HTTP measurements have.
"""

from __future__ import annotations

import glob
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.database import Server
from bench.stats import latency_summary

INIT_TIMEOUT_SECONDS = 600
THREADS = 2


def executable() -> str:
    found = shutil.which("pgbench") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError("pgbench not found (apt-get install postgresql-client)")
    return found


def initialize(server: Server, database: str, scale: int) -> None:
    subprocess.run(  # noqa: S603  (pgbench, with arguments we built)
        [executable(), *server.pgbench_args(), "-i", "-q", "-s", str(scale), database],
        env=server.pgbench_env(),
        check=True,
        capture_output=True,
        timeout=INIT_TIMEOUT_SECONDS,
    )


@dataclass(frozen=True)
class Outcome:
    transactions: int  # in the measured window
    failed: int  # every failed transaction, any phase
    processed: int  # every transaction pgbench committed, any phase
    seconds: float
    latency_ms: dict[str, float | None]
    usage: cpu.Usage
    wall: float  # seconds pgbench ran, over which `usage` was taken
    problem: str | None  # pgbench's own complaint, when it had one


def run(
    server: Server,
    database: str,
    meter: cpu.Meter,
    *,
    workdir: Path,
    label: str,
    clients: int,
    warmup: float,
    duration: float,
    builtin: str | None = None,
    script: Path | None = None,
) -> Outcome:
    """Run pgbench for warmup + duration seconds; measure the window after the warm-up."""
    for old in workdir.glob(f"{label}.*"):
        old.unlink()
    which = ["-b", builtin] if builtin else ["-n", "-f", str(script)]
    seconds = max(1, round(warmup + duration))
    command = [
        executable(),
        *server.pgbench_args(),
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(THREADS, clients)),
        "-T",
        str(seconds),
        "-l",
        f"--log-prefix={workdir / label}",
        *which,
        database,
    ]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, began = meter.sample(), time.monotonic()
    done = subprocess.run(  # noqa: S603  (pgbench, with arguments we built)
        command,
        env=server.pgbench_env(),
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    after, ended = meter.sample(), time.monotonic()
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (reaped.ru_utime + reaped.ru_stime) - (children.ru_utime + children.ru_stime)
    usage = cpu.usage(before, after)
    usage = cpu.Usage(app=None, postgres=usage.postgres, client=client, machine=usage.machine)
    report = done.stdout + done.stderr
    processed = _number(r"number of transactions actually processed: (\d+)", report)
    failed = _number(r"number of failed transactions: (\d+)", report)
    problem = None
    if done.returncode != 0:
        tail = " ".join(report.strip().splitlines()[-3:])
        problem = f"pgbench exited {done.returncode}: {tail[:300]}"
    latencies, errors = _window(workdir, label, warmup, duration)
    return Outcome(
        transactions=len(latencies),
        failed=max(failed, errors),
        processed=processed,
        seconds=duration,
        latency_ms=latency_summary(latencies),
        usage=usage,
        wall=ended - began,
        problem=problem,
    )


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    return int(found.group(1)) if found else 0


def _window(workdir: Path, label: str, warmup: float, duration: float) -> tuple[list[float], int]:
    """Latencies (s) of transactions that began in the measured window, and failures.

    Log line: client_id transaction_no time script_no time_epoch time_us [...], where
    time is the latency in µs (or "failed"/"skipped") and time_epoch.time_us its end."""
    rows: list[tuple[float, float | None]] = []
    for path in workdir.glob(f"{label}.*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 6:
                continue
            ended = int(fields[4]) + int(fields[5]) / 1e6
            latency = int(fields[2]) / 1e6 if fields[2].isdigit() else None
            rows.append((ended - (latency or 0.0), latency))
    if not rows:
        return [], 0
    first = min(began for began, _ in rows)
    start, end = first + warmup, first + warmup + duration
    latencies = [lat for began, lat in rows if start <= began < end and lat is not None]
    failures = sum(1 for _, lat in rows if lat is None)
    return latencies, failures
