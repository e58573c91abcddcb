"""A wheel install migrates and serves without a checkout: the migrations ship inside the
package (app/db/migrate.py reads them with importlib.resources, no alembic.ini). The wheel is
built from a copy of the sources, installed in a fresh venv outside the repository, and
every command runs from an empty directory, so nothing can be found in the checkout."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from sqlalchemy import make_url

from tests.support.live import free_port, server_env

ROOT = Path(__file__).resolve().parents[2]
# What the build reads; app/migrations is a link to migrations/, copied as a link.
SOURCES = ("pyproject.toml", "README.md", "app", "migrations")
COMMAND_SECONDS = 180
STARTUP_SECONDS = 30
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.slow

PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) {
    __typename
    ... on PayInvoiceSuccess { invoice { number status } wallet { balance { amount } } }
    ... on Error { message code }
  }
}
"""


@dataclass(frozen=True)
class Install:
    venv: Path
    home: Path  # an empty working directory outside the checkout

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, env: dict[str, str], *args: str) -> str:
        """The installed `invoicepay`, from the empty directory."""
        return _run(self.venv / "bin" / "invoicepay", *args, cwd=self.home, env=env)


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _copy_sources(target: Path) -> None:
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """The wheel in a fresh venv. Its dependencies come from this venv's site-packages,
    added as a plain path: offline and fast, and this venv's .pth files (the editable
    install of the checkout among them) are not run there."""
    root = tmp_path_factory.mktemp("wheel")
    _copy_sources(root / "source")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        root / "dist",
        root / "source",
    )
    [wheel] = (root / "dist").glob("invoicepay-*.whl")
    install = Install(venv=root / "venv", home=root / "home")
    install.home.mkdir()
    _run(sys.executable, "-m", "venv", "--without-pip", install.venv)
    _run(
        sys.executable, "-m", "pip", "--python", install.python, "install", "-q", "--no-deps", wheel
    )
    site = _run(install.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    dependencies = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site.strip()) / "invoicepay_dependencies.pth").write_text("\n".join(dependencies))
    return install


async def _admin(server: str, sql: str) -> None:
    dsn = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file, or a new PostgreSQL database
    dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    server = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    name = f"invoicepay_wheel_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI", "").lower() == "true":  # as tests/conftest.py: CI needs it
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _environment(database_url: str) -> dict[str, str]:
    env = server_env(database_url)
    env.pop("PYTHONPATH", None)  # the worktree's own code must not be found
    return env


def _serve(install: Install, env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    """`invoicepay serve`, once `/readyz` says the database is migrated."""
    port = url.rsplit(":", 1)[1]
    log_path = install.home / f"serve-{port}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603
            [str(install.venv / "bin" / "invoicepay"), "serve", "--port", port],
            cwd=install.home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, log_path.read_text()
        try:
            ready = httpx.get(f"{url}/readyz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        assert ready.status_code == 200, ready.text
        return server
    server.kill()
    pytest.fail(f"not ready in {STARTUP_SECONDS} s")


def test_the_package_is_the_installed_wheel(installed: Install) -> None:
    where = _run(
        installed.python,
        "-c",
        "import app, app.db.migrate; print(app.__file__); print(app.db.migrate.migrations_dir())",
        cwd=installed.home,
        env=_environment("sqlite://"),
    )
    package, migrations = where.split()
    assert Path(package).is_relative_to(installed.venv)
    assert Path(migrations).is_relative_to(installed.venv)
    assert (Path(migrations) / "versions").is_dir()
    assert not (Path(package).parent.parent / "alembic.ini").exists()


def test_a_wheel_install_migrates_and_serves_a_payment(
    installed: Install, empty_database_url: str
) -> None:
    env = _environment(empty_database_url)
    # given a fresh database, migrated by the installed command, a tenant and the demo
    assert "is at revision" in installed.run(env, "migrate")
    installed.run(env, "tenant", "create", "64f0000000000000000000aa", "--name", "Wheel Ltd")
    demo: dict[str, Any] = orjson.loads(installed.run(env, "seed", "--demo", "--json"))
    # when the installed server is ready and Ada pays invoice 100123 in full
    url = f"http://127.0.0.1:{free_port()}"
    server = _serve(installed, env, url)
    try:
        answer = httpx.post(
            f"{url}/graphql",
            json={
                "query": PAY,
                "variables": {"input": {"invoiceNumber": 100123, "currency": "NGN"}},
            },
            headers={"Authorization": f"Bearer {demo['tokens']['ada']}"},
            timeout=30,
        )
    finally:
        server.terminate()
        server.wait(timeout=15)
    # then it is paid from her NGN wallet, and the ledger holds
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["payInvoice"] == {
        "__typename": "PayInvoiceSuccess",
        "invoice": {"number": 100123, "status": "PAID"},
        "wallet": {"balance": {"amount": "35000.00"}},
    }
    assert "ledger OK" in installed.run(env, "ledger", "verify")
