"""The app under test: `invoicepay serve` with production settings (uvloop, httptools,
no access log), in its own process group on a loopback port; and the floor
(`bench.floor`, row f) served the same way."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.floor import READY_PATH

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60
STOP_SECONDS = 15
# Settings of the outside environment that must not leak into the served app.
FOREIGN = ("JWT_", "RATE_LIMIT", "BLOCKED_IPS", "TRUSTED_PROXIES", "DATABASE_URL", "GRAPHIQL")
# Far above any rate reached here; a one-second window keeps the limiter's history short
# (one client address sends every request, and its moving window keeps each hit).
RATE_LIMIT = "1000000/second"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def app_env(database_url: str, jwt_secret: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN)}
    env.update(
        DATABASE_URL=database_url,
        JWT_SECRET=jwt_secret,
        ENVIRONMENT="production",
        LOG_LEVEL="WARNING",
        RATE_LIMIT=RATE_LIMIT,
        RATE_LIMIT_STORAGE_URL="memory://",
        # The webhooks row's receiver is on loopback; a retry comes due within seconds.
        WEBHOOK_ALLOW_PRIVATE="on",
        WEBHOOK_RETRY_SCHEDULE="1,2,5",
    )
    return env


class AppServer:
    probe_path = "/api/v1/openapi.json"  # answers once serving, without the database

    def __init__(
        self, env: dict[str, str], log_path: Path, *, workers: int = 1, cpus: str | None = None
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.cpus = cpus
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def command(self) -> list[str]:
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        # ENVIRONMENT=production: uvloop, httptools, no access log (`invoicepay serve`).
        serve = str(Path(sys.executable).with_name("invoicepay"))
        return [*pin, serve, "serve", "--port", str(self.port), "--workers", str(self.workers)]

    def start(self) -> None:
        """Start, and wait until it answers (its OpenAPI document needs no database)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (invoicepay serve, arguments we built)
                self.command(),
                env=self.env,
                cwd=self.log_path.parent,  # no stray .env of the working tree
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited at start:\n{self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the app did not answer in {STARTUP_SECONDS} s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            probe.request("GET", self.probe_path)
            return probe.getresponse().status == 200
        except OSError:
            return False
        finally:
            probe.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after STOP_SECONDS."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_SECONDS)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


class GranianServer(AppServer):
    """The same app under granian (`--server granian`), as `invoicepay serve` configures it
    (`app.web.serve_app`, uvloop, no access log, warnings only), for the comparison in the
    README's performance section. granian is not a dependency: `pip install granian`."""

    def command(self) -> list[str]:
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        granian = str(Path(sys.executable).with_name("granian"))
        return [
            *pin,
            *[granian, "--interface", "asgi", "--loop", "uvloop", "--http", "1"],
            *["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)],
            *["--log-level", "warning", "--no-access-log", "--factory", "app.web:serve_app"],
        ]


SERVERS: dict[str, type[AppServer]] = {"uvicorn": AppServer, "granian": GranianServer}


def floor_env(database_url: str, tenant: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN)}
    env.update(FLOOR_DATABASE_URL=database_url, FLOOR_TENANT=tenant, PYTHONPATH=str(ROOT))
    return env


class FloorServer(AppServer):
    """`python -m bench.floor`: uvicorn with uvloop and httptools, no access log."""

    probe_path = READY_PATH

    def command(self) -> list[str]:
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        floor = [sys.executable, "-m", "bench.floor"]
        return [*pin, *floor, "--port", str(self.port), "--workers", str(self.workers)]
