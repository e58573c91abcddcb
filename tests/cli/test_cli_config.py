"""A variable whose value is not of its form stops every command before it does anything:
one line on stderr naming the variable, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn

from app.cli import commands as cli
from tests.support.cli import FakeServer, set_cli_env

ROOT = Path(__file__).resolve().parents[2]
LOUD = "invoicepay: configuration error: LOG_LEVEL=LOUD: must be one of DEBUG, INFO, WARNING,"
LOUD += " ERROR, CRITICAL\n"
COMMANDS = [
    ["serve"],
    ["migrate"],
    ["seed", "--demo"],
    ["token", "--clone", "64f000000000000000000002", "--admin"],
    ["ledger", "verify"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(argv[:2]) for argv in COMMANDS])
def test_a_bad_log_level_stops_every_command_with_one_line(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a database that does not exist yet, and LOG_LEVEL=LOUD
    database = tmp_path / "never.db"
    set_cli_env(monkeypatch, f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    server = FakeServer()
    monkeypatch.setattr(uvicorn, "run", server)
    # when the command runs
    code = cli.main(argv)
    # then it exits 2 with one line naming the variable, and did nothing
    captured = capsys.readouterr()
    assert (code, captured.err, captured.out) == (2, LOUD, "")
    assert server.calls == []
    assert not database.exists()


def test_a_secret_that_is_not_of_its_form_is_named_not_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_cli_env(monkeypatch)
    monkeypatch.setenv("METRICS_TOKEN", "hunter2-short")
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "invoicepay: configuration error: METRICS_TOKEN: must be at least 16 characters long\n"
    )


def test_invoicepay_serve_with_a_bad_log_level_prints_no_traceback(tmp_path: Path) -> None:
    # given the real entry point in a process of its own (no .env in its directory)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "LOUD",
        "JWT_SECRET": "s" * 40,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'never.db'}",
    }
    entry = "import sys; from app.cli.commands import main; sys.exit(main())"
    # when it is asked to serve
    done = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-c", entry, "serve", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # then it refuses at once: exit 2, the one line, nothing else
    assert (done.returncode, done.stderr, done.stdout) == (2, LOUD, "")
